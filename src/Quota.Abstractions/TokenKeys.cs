namespace Quota.Abstractions;

/// <summary>
/// The key of an upstream token's grain, <c>{upstream}/{tokenId}</c>: built and read only here. It is also the token's
/// id in usage URLs and labels (<c>token:{upstream}/{tokenId}</c>).
/// </summary>
public static class TokenKeys
{
    /// <summary>The grain key of token <paramref name="token"/> of <paramref name="upstream"/>.</summary>
    public static string Key(string upstream, string token) => $"{upstream}/{token}";

    /// <summary>
    /// The upstream and token a key names: split at its first <c>/</c>. A key without one (or starting with one) names
    /// no token: the whole key is taken as the upstream and the token is empty.
    /// </summary>
    public static (string Upstream, string Token) Parse(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 ? (key[..slash], key[(slash + 1)..]) : (key, string.Empty);
    }
}
