using System.Globalization;
using System.Security.Claims;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Quota.Abstractions;
using Quota.RateLimiting;

namespace Quota.AspNetCore;

/// <summary>
/// Names the Quota subjects of an HTTP request: a user (from a claim or a header), an API key (from a header), a
/// tenant, and resources (templates filled from route values). Every subject named is decided all or nothing in one
/// call. For each of user, key and tenant the first source with a value wins.
/// </summary>
public sealed partial class QuotaPolicyBuilder
{
    private readonly List<(string Description, Func<HttpContext, string?> Read)> _users = [];
    private readonly List<(string Description, Func<HttpContext, string?> Read)> _keys = [];
    private readonly List<(string Description, Func<HttpContext, string?> Read)> _tenants = [];
    private readonly List<(string Description, Func<HttpContext, string?> Read)> _resources = [];
    private readonly List<Action<QuotaRateLimiterOptions>> _configure = [];
    private Func<HttpContext, Priority>? _priority;

    internal QuotaPolicyBuilder()
    {
    }

    /// <summary>The user is the value of the authenticated principal's <paramref name="claimType"/> claim (default: name identifier).</summary>
    public QuotaPolicyBuilder UserFromClaim(string claimType = ClaimTypes.NameIdentifier)
    {
        ArgumentException.ThrowIfNullOrEmpty(claimType);
        _users.Add(($"claim {claimType}", c => c.User.FindFirst(claimType)?.Value));
        return this;
    }

    /// <summary>The user is the value of the request header <paramref name="header"/> (e.g. <c>X-User</c>).</summary>
    public QuotaPolicyBuilder UserFromHeader(string header)
    {
        ArgumentException.ThrowIfNullOrEmpty(header);
        _users.Add(($"header {header}", c => Header(c, header)));
        return this;
    }

    /// <summary>
    /// The raw API key is the value of the request header <paramref name="header"/> (e.g. <c>X-Api-Key</c>). It is
    /// hashed in the silo, never stored, logged or echoed; an unregistered key is refused with 401.
    /// </summary>
    public QuotaPolicyBuilder ApiKeyFromHeader(string header)
    {
        ArgumentException.ThrowIfNullOrEmpty(header);
        _keys.Add(($"header {header}", c => Header(c, header)));
        return this;
    }

    /// <summary>The tenant is the value of the authenticated principal's <paramref name="claimType"/> claim.</summary>
    public QuotaPolicyBuilder TenantFromClaim(string claimType)
    {
        ArgumentException.ThrowIfNullOrEmpty(claimType);
        _tenants.Add(($"claim {claimType}", c => c.User.FindFirst(claimType)?.Value));
        return this;
    }

    /// <summary>The tenant is the value of the request header <paramref name="header"/>.</summary>
    public QuotaPolicyBuilder TenantFromHeader(string header)
    {
        ArgumentException.ThrowIfNullOrEmpty(header);
        _tenants.Add(($"header {header}", c => Header(c, header)));
        return this;
    }

    /// <summary>
    /// A resource named by <paramref name="template"/>, whose <c>{name}</c> parts are the request's route values
    /// (<c>orders</c>, <c>chat:{chatId}</c>). A request lacking one of the route values does not name this resource.
    /// The resource must be configured in the cluster (an unconfigured one is refused with 404).
    /// </summary>
    public QuotaPolicyBuilder Resource(string template)
    {
        ArgumentException.ThrowIfNullOrEmpty(template);
        var names = RouteValueName().Matches(template).Select(m => m.Groups[1].Value).ToArray();
        _resources.Add(($"resource {template}", c =>
        {
            var text = template;
            foreach (var name in names)
            {
                if (c.Request.RouteValues.TryGetValue(name, out var value) && Convert.ToString(value, CultureInfo.InvariantCulture) is { Length: > 0 } part)
                {
                    text = text.Replace("{" + name + "}", part, StringComparison.Ordinal);
                }
                else
                {
                    return null;
                }
            }

            return text;
        }));
        return this;
    }

    /// <summary>A resource named by <paramref name="name"/> for each request (null: the request does not name it).</summary>
    public QuotaPolicyBuilder Resource(Func<HttpContext, string?> name)
    {
        ArgumentNullException.ThrowIfNull(name);
        _resources.Add(("a resource the app names", name));
        return this;
    }

    /// <summary>
    /// Each request's priority in Quota's queue (higher priorities are served first while requests wait, and shed last
    /// under overload), chosen by the app from the request (e.g. a claim, the endpoint, a paid plan), instead of the
    /// policy's one <see cref="QuotaRateLimiterOptions.Priority"/>. Do not take it from a header the caller sets unchecked:
    /// any caller could then put itself first.
    /// </summary>
    public QuotaPolicyBuilder Priority(Func<HttpContext, Priority> select)
    {
        ArgumentNullException.ThrowIfNull(select);
        _priority = select;
        return this;
    }

    /// <summary>
    /// Changes this policy's options on top of the shared <c>Quota:RateLimiting</c> section: its wait, priority,
    /// fail-open or fail-closed mode, decision timeout.
    /// </summary>
    public QuotaPolicyBuilder Configure(Action<QuotaRateLimiterOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        _configure.Add(configure);
        return this;
    }

    /// <summary>Where the subjects come from, for refusals naming what a request lacked.</summary>
    internal string Sources => string.Join(", ", _users.Concat(_keys).Concat(_tenants).Concat(_resources).Select(s => s.Description));

    internal QuotaRateLimiterOptions Options(QuotaRateLimiterOptions shared, string name)
    {
        var options = shared.Clone();
        options.Name = name;
        foreach (var configure in _configure)
        {
            configure(options);
        }

        return options;
    }

    /// <summary>The per-request priority selector, if one was given.</summary>
    internal Func<HttpContext, Priority>? PrioritySelector => _priority;

    internal Func<HttpContext, AcquireRequest> Subjects()
    {
        var users = _users.ToArray();
        var keys = _keys.ToArray();
        var tenants = _tenants.ToArray();
        var resources = _resources.ToArray();
        return context =>
        {
            string[]? named = null;
            foreach (var resource in resources)
            {
                if (resource.Read(context) is { Length: > 0 } value)
                {
                    named = named is null ? [value] : [.. named, value];
                }
            }

            return new AcquireRequest
            {
                User = First(users, context),
                ApiKey = First(keys, context),
                Tenant = First(tenants, context),
                Resources = named,
            };
        };
    }

    private static string? First((string, Func<HttpContext, string?> Read)[] sources, HttpContext context)
    {
        foreach (var source in sources)
        {
            if (source.Read(context) is { Length: > 0 } value)
            {
                return value;
            }
        }

        return null;
    }

    private static string? Header(HttpContext context, string header) =>
        context.Request.Headers.TryGetValue(header, out var values) && values.Count == 1 ? values[0] : null;

    [GeneratedRegex(@"\{([^{}]+)\}")]
    private static partial Regex RouteValueName();
}
