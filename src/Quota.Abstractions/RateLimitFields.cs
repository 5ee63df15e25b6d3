using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using Quota.Algorithms.Limiting;

namespace Quota.Abstractions;

/// <summary>
/// The values of the IETF <c>RateLimit-Policy</c> and <c>RateLimit</c> fields (draft-ietf-httpapi-ratelimit-headers-11)
/// and of <c>Retry-After</c>, written once for every front door (the silo's HTTP API and the ASP.NET Core integration).
/// Each field is a Structured Field list with one item per policy, named <c>"subject/policy"</c>. Policy: <c>q</c>
/// quota, <c>w</c> window seconds, <c>qu</c> quota unit for concurrency. Current state: <c>r</c> remaining, <c>t</c>
/// seconds until the quota is full again. <c>Retry-After</c> is whole seconds, rounded up.
/// </summary>
public static class RateLimitFields
{
    /// <summary>The <c>RateLimit-Policy</c> field name.</summary>
    public const string PolicyHeader = "RateLimit-Policy";

    /// <summary>The <c>RateLimit</c> field name.</summary>
    public const string StateHeader = "RateLimit";

    /// <summary>Printable ASCII that an sf-string holds as it is (everything from space to '~' but quote and backslash).</summary>
    private static readonly SearchValues<char> Plain = SearchValues.Create(
        " !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    /// <summary>The <c>RateLimit-Policy</c> value for <paramref name="policies"/>; null when there are none (send no field).</summary>
    public static string? Policy(IReadOnlyList<PolicyState> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        if (policies.Count == 0)
        {
            return null;
        }

        // One string per header, built in a stack buffer (it grows into a pooled array past 256 characters): these are
        // written on every HTTP decision, where StringBuilders and per-part strings were a tenth of what one allocated.
        var list = new DefaultInterpolatedStringHandler(0, 0, CultureInfo.InvariantCulture, stackalloc char[256]);
        for (var i = 0; i < policies.Count; i++)
        {
            var p = policies[i];
            Item(ref list, i, p);
            list.AppendLiteral(";q=");
            list.AppendFormatted(p.Limit);
            if (p.WindowSeconds is { } window)
            {
                list.AppendLiteral(";w=");
                list.AppendFormatted(window);
            }

            if (p.Algorithm == AlgorithmKind.Concurrency)
            {
                list.AppendLiteral(";qu=\"concurrent-requests\"");
            }
        }

        return list.ToStringAndClear();
    }

    /// <summary>The <c>RateLimit</c> value for <paramref name="policies"/>; null when there are none (send no field).</summary>
    public static string? State(IReadOnlyList<PolicyState> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        if (policies.Count == 0)
        {
            return null;
        }

        var list = new DefaultInterpolatedStringHandler(0, 0, CultureInfo.InvariantCulture, stackalloc char[256]);
        for (var i = 0; i < policies.Count; i++)
        {
            var p = policies[i];
            Item(ref list, i, p);
            list.AppendLiteral(";r=");
            list.AppendFormatted(p.Remaining);
            list.AppendLiteral(";t=");
            list.AppendFormatted(CeilingSeconds(p.ResetAfterMs));
        }

        return list.ToStringAndClear();
    }

    /// <summary>The <c>Retry-After</c> value for a wait of <paramref name="retryAfterMs"/>; null when there is no wait (0 or -1, never).</summary>
    public static string? RetryAfter(long retryAfterMs) =>
        retryAfterMs > 0 ? CeilingSeconds(retryAfterMs).ToString(CultureInfo.InvariantCulture) : null;

    /// <summary>Whole seconds, rounded up: a client waiting that long is never early.</summary>
    public static long CeilingSeconds(long milliseconds) => milliseconds <= 0 ? 0 : (milliseconds / 1000) + (milliseconds % 1000 == 0 ? 0 : 1);

    /// <summary>
    /// Item <paramref name="index"/>'s key: ", " before every item but the first, then <c>"{subject}/{policy}"</c> as an
    /// sf-string: printable ASCII only, with quote and backslash escaped; anything else becomes '?'.
    /// </summary>
    private static void Item(ref DefaultInterpolatedStringHandler list, int index, PolicyState policy)
    {
        if (index > 0)
        {
            list.AppendLiteral(", ");
        }

        list.AppendLiteral("\"");
        SfCharacters(ref list, policy.Subject);
        list.AppendLiteral("/");
        SfCharacters(ref list, policy.Policy);
        list.AppendLiteral("\"");
    }

    private static void SfCharacters(ref DefaultInterpolatedStringHandler list, string text)
    {
        // Names are almost always plain: written whole, and character by character only when one needs changing.
        if (!text.AsSpan().ContainsAnyExcept(Plain))
        {
            list.AppendFormatted(text.AsSpan());
            return;
        }

        foreach (var c in text)
        {
            if (c is '"' or '\\')
            {
                list.AppendFormatted('\\');
                list.AppendFormatted(c);
            }
            else
            {
                list.AppendFormatted(c is >= ' ' and <= '~' ? c : '?');
            }
        }
    }
}
