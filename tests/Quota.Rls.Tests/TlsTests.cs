using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using Quota.Testing;

namespace Quota.Rls.Tests;

/// <summary>
/// An <c>https://</c> <c>Quota:Rls:Url</c> serves the rate-limit service over TLS with the certificate it is given
/// (a PEM certificate and key made here), and only over TLS; an https address without a certificate stops the silo.
/// </summary>
public sealed class TlsTests
{
    [Fact]
    public async Task An_https_address_serves_the_service_over_tls_with_the_given_certificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=quota-rls-test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var directory = Directory.CreateTempSubdirectory("quota-rls-tls-");
        try
        {
            var certificatePath = Path.Combine(directory.FullName, "rls.crt");
            var keyPath = Path.Combine(directory.FullName, "rls.key");
            await File.WriteAllTextAsync(certificatePath, certificate.ExportCertificatePem(), TestContext.Current.CancellationToken);
            await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem(), TestContext.Current.CancellationToken);
            var port = SiloProcess.FreePorts(1)[0];
            await using var host = await SiloProcess.StartAsync(
                [$"--Quota:Rls:Url=https://127.0.0.1:{port}", $"--Quota:Rls:CertificatePath={certificatePath}", $"--Quota:Rls:CertificateKeyPath={keyPath}"]);

            // A client that trusts exactly this certificate.
            var thumbprint = certificate.GetCertHashString();
            using var handler = new SocketsHttpHandler();
            handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) => presented is not null && presented.GetCertHashString() == thumbprint;
            using var tls = GrpcChannel.ForAddress($"https://127.0.0.1:{port}", new GrpcChannelOptions { HttpHandler = handler });
            var answer = await new RateLimitService.RateLimitServiceClient(tls)
                .ShouldRateLimitAsync(For("no-such-domain", Descriptor(("k", "a"))), cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal(Code.Ok, answer.OverallCode);

            // Plaintext to the same port is not served.
            using var plain = GrpcChannel.ForAddress($"http://127.0.0.1:{port}");
            var refused = await Assert.ThrowsAsync<RpcException>(async () => await new RateLimitService.RateLimitServiceClient(plain)
                .ShouldRateLimitAsync(For("no-such-domain", Descriptor(("k", "a"))), cancellationToken: TestContext.Current.CancellationToken));
            Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task An_https_address_without_a_certificate_stops_the_silo_naming_the_setting()
    {
        var (exitCode, output) = await SiloProcess.RunToExitAsync(["--Quota:Rls:Url=https://127.0.0.1:9443", "--Quota:Rls:CertificateKeyPath=/nonexistent/rls.key"]);

        Assert.Equal(1, exitCode);
        Assert.Contains("Quota:Rls:Url is https ('https://127.0.0.1:9443') but Quota:Rls:CertificatePath is not set", output, StringComparison.Ordinal);
        Assert.Contains("Quota:Rls:CertificateKeyPath: no file at '/nonexistent/rls.key'", output, StringComparison.Ordinal);
    }
}
