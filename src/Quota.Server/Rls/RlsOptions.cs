using Microsoft.Extensions.Options;

namespace Quota.Server.Rls;

/// <summary>
/// Envoy's rate-limit service (<c>Quota:Rls</c>): where it listens, global shadow mode, and the near-limit ratio its
/// metrics use.
/// </summary>
public sealed class RlsOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Rls";

    /// <summary>
    /// Where the gRPC service listens, HTTP/2 on its own endpoint (host an IP address or <c>localhost</c>, a port other
    /// than the HTTP API's): <c>http://host:port</c> in plaintext, or <c>https://host:port</c> with TLS from
    /// <see cref="CertificatePath"/>. Empty turns the service off. Default: <c>http://127.0.0.1:8081</c>.
    /// </summary>
    public string? Url { get; set; } = "http://127.0.0.1:8081";

    /// <summary>
    /// For an <c>https://</c> <see cref="Url"/>: the server certificate, a PEM file (with <see cref="CertificateKeyPath"/>)
    /// or a PKCS #12 (<c>.pfx</c>) file (with <see cref="CertificatePassword"/> if it has one). Default: none.
    /// </summary>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of a PEM <see cref="CertificatePath"/>. Default: none.</summary>
    public string? CertificateKeyPath { get; set; }

    /// <summary>The password of a PKCS #12 <see cref="CertificatePath"/> (or of an encrypted PEM key). Default: none. Never logged.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>Global shadow mode: every request is decided and counted as usual, but the answer is always OK. Default: false.</summary>
    public bool ShadowMode { get; set; }

    /// <summary>
    /// A descriptor admitted with at most this share of its limit left is counted as near its limit
    /// (<c>quota.rls.near_limit</c>); more than 0 and at most 1. Default: 0.8 (envoy-ratelimit's).
    /// </summary>
    public double NearLimitRatio { get; set; } = 0.8;

    /// <summary>The listening address, or null when the service is off.</summary>
    internal Uri? Endpoint => string.IsNullOrWhiteSpace(Url) ? null : new Uri(Url, UriKind.Absolute);
}

/// <summary>Checks <see cref="RlsOptions"/> at start, collecting every problem.</summary>
internal sealed class RlsOptionsValidator : IValidateOptions<RlsOptions>
{
    public ValidateOptionsResult Validate(string? name, RlsOptions options)
    {
        var errors = new List<string>();
        if (!string.IsNullOrWhiteSpace(options.Url))
        {
            if (!Uri.TryCreate(options.Url, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
                || url.AbsolutePath != "/" || !string.IsNullOrEmpty(url.Query) || !string.IsNullOrEmpty(url.UserInfo)
                || (url.HostNameType is not (UriHostNameType.IPv4 or UriHostNameType.IPv6) && url.Host != "localhost"))
            {
                errors.Add($"{RlsOptions.SectionName}:Url: '{options.Url}' is not a listening address; write http://IP:PORT (e.g. http://127.0.0.1:8081, or http://0.0.0.0:8081 for every interface), https://IP:PORT with {RlsOptions.SectionName}:CertificatePath for TLS, or leave it empty to turn the rate-limit service off.");
            }
            else if (url.Scheme == Uri.UriSchemeHttps && string.IsNullOrWhiteSpace(options.CertificatePath))
            {
                errors.Add($"{RlsOptions.SectionName}:Url is https ('{options.Url}') but {RlsOptions.SectionName}:CertificatePath is not set; give the server certificate (PEM with CertificateKeyPath, or .pfx), or use http:// for plaintext.");
            }
            else if (url.Scheme == Uri.UriSchemeHttp && !string.IsNullOrWhiteSpace(options.CertificatePath))
            {
                errors.Add($"{RlsOptions.SectionName}:CertificatePath is set but {RlsOptions.SectionName}:Url is plaintext ('{options.Url}'); write https:// to serve TLS, or remove the certificate.");
            }
        }

        foreach (var (key, path) in new[] { ("CertificatePath", options.CertificatePath), ("CertificateKeyPath", options.CertificateKeyPath) })
        {
            if (!string.IsNullOrWhiteSpace(path) && !File.Exists(path))
            {
                errors.Add($"{RlsOptions.SectionName}:{key}: no file at '{path}'; give the path of a readable file.");
            }
        }

        if (!(options.NearLimitRatio > 0 && options.NearLimitRatio <= 1))
        {
            errors.Add($"{RlsOptions.SectionName}:NearLimitRatio: must be more than 0 and at most 1 (got {options.NearLimitRatio}); e.g. 0.8.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
