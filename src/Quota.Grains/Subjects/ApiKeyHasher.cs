using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Quota.Grains.Configuration;

namespace Quota.Grains.Subjects;

/// <summary>
/// Turns a raw inbound API key into its key id: the lower-case hex HMAC-SHA256 of the key under the pepper.
/// The raw key is never stored, logged or sent further than this.
/// </summary>
public sealed class ApiKeyHasher
{
    /// <summary>The pepper used when none is configured: fine for the embedded default on a laptop, never for production.</summary>
    internal const string DevelopmentPepper = "quota-embedded-development-pepper";

    private readonly byte[] _pepper;

    /// <summary>Creates the hasher from <see cref="SecretOptions.Pepper"/>.</summary>
    public ApiKeyHasher(IOptions<SecretOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var pepper = options.Value.Pepper;
        UsesDevelopmentPepper = string.IsNullOrEmpty(pepper);
        _pepper = Encoding.UTF8.GetBytes(UsesDevelopmentPepper ? DevelopmentPepper : pepper!);
    }

    /// <summary>Whether no pepper was configured and the development pepper is in use.</summary>
    public bool UsesDevelopmentPepper { get; }

    /// <summary>The key id of <paramref name="rawKey"/>: 64 lower-case hex digits.</summary>
    public string KeyId(string rawKey)
    {
        ArgumentNullException.ThrowIfNull(rawKey);
        return Convert.ToHexStringLower(HMACSHA256.HashData(_pepper, Encoding.UTF8.GetBytes(rawKey)));
    }

    /// <summary>Whether <paramref name="text"/> has the shape of a key id.</summary>
    public static bool IsKeyId(string text) =>
        text.Length == 64 && text.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');
}
