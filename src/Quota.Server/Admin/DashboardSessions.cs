using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Quota.Grains;

namespace Quota.Server.Admin;

/// <summary>
/// Dashboard sign-ins. The cookie holds <c>{id}.{expiry}.{mac}</c>: a random id, the expiry in Unix seconds, and an
/// HMAC-SHA256 over both under a key derived from the admin token. Every silo with the same token verifies it without
/// shared state, and changing the token ends every session. Signing out revokes the id on this silo (a bounded table
/// kept until the ids expire); another silo still honours a copy of the cookie until it expires.
/// </summary>
internal sealed class DashboardSessions
{
    /// <summary>The most revoked ids remembered at once; past it the soonest to expire is forgotten first.</summary>
    internal const int RevokedCapacity = 10_000;

    private readonly byte[]? _key;
    private readonly TimeSpan _lifetime;
    private readonly QuotaTime _time;
    private readonly ConcurrentDictionary<string, long> _revoked = new(StringComparer.Ordinal);
    private readonly Lock _write = new();

    public DashboardSessions(IOptions<AdminOptions> options, QuotaTime time)
    {
        _time = time;
        _lifetime = options.Value.DashboardSessionLifetime;
        if (!string.IsNullOrEmpty(options.Value.Token))
        {
            // Derived, not the token itself: a cookie's MAC reveals nothing usable against the admin API.
            _key = HMACSHA256.HashData(Encoding.UTF8.GetBytes(options.Value.Token), "quota-dashboard-session-v1"u8);
        }
    }

    /// <summary>How long a session lasts.</summary>
    public TimeSpan Lifetime => _lifetime;

    /// <summary>A new session's cookie value.</summary>
    /// <exception cref="InvalidOperationException">No admin token is configured.</exception>
    public string Issue()
    {
        var key = _key ?? throw new InvalidOperationException("Dashboard sessions need Quota:Admin:Token.");
        var id = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));
        var expiry = (_time.Provider.GetUtcNow() + _lifetime).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return $"{id}.{expiry}.{Mac(key, id, expiry)}";
    }

    /// <summary>Whether <paramref name="value"/> is a session this token issued, not expired and not signed out here.</summary>
    public bool IsValid(string value) => Parse(value) is { } session && !_revoked.ContainsKey(session.Id);

    /// <summary>Ends the session in <paramref name="value"/> on this silo, if it is one.</summary>
    public void Revoke(string value)
    {
        if (Parse(value) is not { } session)
        {
            return;
        }

        lock (_write)
        {
            if (_revoked.Count >= RevokedCapacity)
            {
                var now = _time.Provider.GetUtcNow().ToUnixTimeSeconds();
                foreach (var (id, expiry) in _revoked)
                {
                    if (expiry <= now)
                    {
                        _revoked.TryRemove(id, out _);
                    }
                }

                if (_revoked.Count >= RevokedCapacity)
                {
                    _revoked.TryRemove(_revoked.MinBy(pair => pair.Value).Key, out _);
                }
            }

            _revoked[session.Id] = session.Expiry;
        }
    }

    private (string Id, long Expiry)? Parse(string value)
    {
        if (_key is null || value.Split('.') is not [var id, var expiryText, var mac]
            || !long.TryParse(expiryText, NumberStyles.None, CultureInfo.InvariantCulture, out var expiry))
        {
            return null;
        }

        var expected = Encoding.ASCII.GetBytes(Mac(_key, id, expiryText));
        if (!CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(mac)))
        {
            return null;
        }

        return expiry > _time.Provider.GetUtcNow().ToUnixTimeSeconds() ? (id, expiry) : null;
    }

    private static string Mac(byte[] key, string id, string expiry) =>
        Base64Url.EncodeToString(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes($"{id}.{expiry}")));
}
