using Microsoft.Extensions.Options;

namespace Quota.Server.Admin;

/// <summary>Which rule decides who may administer; the silo names it in its start-up log.</summary>
public enum AdminRule
{
    /// <summary><c>Quota:Admin:Token</c> is set: every admin request presents it, from anywhere.</summary>
    Token,

    /// <summary>No token, loopback allowed: callers on this machine (addressing it by a loopback name) may administer.</summary>
    Loopback,

    /// <summary>No token and the loopback rule is off: nobody may administer over HTTP.</summary>
    Nobody,
}

/// <summary>Who may administer, and how failed attempts and dashboard sessions are bounded (<c>Quota:Admin</c>).</summary>
public sealed class AdminOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Admin";

    /// <summary>
    /// The bearer token admin requests (and the dashboard's sign-in) must present. Default: none; then
    /// <see cref="AllowLoopback"/> decides. Never logged.
    /// </summary>
    public string? Token { get; set; }

    /// <summary>
    /// Without a <see cref="Token"/>, whether callers on this machine may administer. Turn it off behind a reverse proxy
    /// or sidecar on the same machine: there every caller is loopback. Default: true in the embedded mode, false in the
    /// PostgreSQL mode (a deployment; set a token there). Ignored when a token is set.
    /// </summary>
    public bool? AllowLoopback { get; set; }

    /// <summary>
    /// Failed admin credentials (a wrong token, a wrong sign-in) one source address may present within
    /// <see cref="FailureWindow"/>; past it every admin request from it is answered 429 until the window ends, the
    /// token not compared. Default: 10.
    /// </summary>
    public int MaxFailures { get; set; } = 10;

    /// <summary>The window <see cref="MaxFailures"/> counts in, from an address's first failure. Default: 1 minute.</summary>
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a dashboard sign-in lasts. Default: 8 hours.</summary>
    public TimeSpan DashboardSessionLifetime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>
    /// Origins besides the request's own (<c>scheme://host[:port]</c> as the silo sees it) whose pages may send
    /// state-changing requests: the public origin when a reverse proxy terminates TLS or rewrites the Host, e.g.
    /// <c>https://quota.example.com</c>. Default: none.
    /// </summary>
    public IList<string> TrustedOrigins { get; } = [];

    /// <summary>The rule in force: a token if set, else loopback unless <see cref="AllowLoopback"/> is false, else nobody.</summary>
    public AdminRule Rule => !string.IsNullOrEmpty(Token) ? AdminRule.Token : AllowLoopback != false ? AdminRule.Loopback : AdminRule.Nobody;
}

/// <summary>Checks <see cref="AdminOptions"/> at start, naming every bad setting.</summary>
public sealed class AdminOptionsValidator : IValidateOptions<AdminOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, AdminOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = AdminOptions.SectionName;
        var errors = new List<string>();
        // Never the token itself in a message.
        if (options.Token is { Length: > 0 } token && token.Trim().Length != token.Length)
        {
            // A bearer header's value is trimmed, so such a token could never be presented.
            errors.Add($"{S}:Token starts or ends with white space, which no request can present; remove it.");
        }
        else if (options.Token is { Length: > 0 and < 16 })
        {
            errors.Add($"{S}:Token is too short; use at least 16 random characters (e.g. `openssl rand -hex 32`), or leave it unset and let {S}:AllowLoopback decide.");
        }

        if (options.MaxFailures is < 1 or > 1_000_000)
        {
            errors.Add($"{S}:MaxFailures must be from 1 to 1000000 (got {options.MaxFailures}); the default is 10.");
        }

        if (options.FailureWindow < TimeSpan.FromSeconds(1) || options.FailureWindow > TimeSpan.FromDays(1))
        {
            errors.Add($"{S}:FailureWindow must be from 00:00:01 to 1.00:00:00 (got {options.FailureWindow}); the default is 00:01:00.");
        }

        if (options.DashboardSessionLifetime < TimeSpan.FromMinutes(1) || options.DashboardSessionLifetime > TimeSpan.FromDays(30))
        {
            errors.Add($"{S}:DashboardSessionLifetime must be from 00:01:00 to 30.00:00:00 (got {options.DashboardSessionLifetime}); the default is 08:00:00.");
        }

        foreach (var (origin, index) in options.TrustedOrigins.Select((o, i) => (o, i)))
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")
                || uri.GetLeftPart(UriPartial.Authority) != origin.TrimEnd('/') || !string.IsNullOrEmpty(uri.UserInfo))
            {
                errors.Add($"{S}:TrustedOrigins:{index} must be an origin, scheme://host[:port] with no path (got '{origin}'), e.g. https://quota.example.com.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
