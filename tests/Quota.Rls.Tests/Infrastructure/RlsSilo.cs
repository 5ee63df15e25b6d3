using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Quota.Server.Rls.Protocol;
using Grpc.Net.Client;
using Quota.Testing;

namespace Quota.Rls.Tests.Infrastructure;

/// <summary>
/// One real silo process with Envoy's rate-limit service on its own HTTP/2 port, a gRPC client generated from the
/// same .proto files, and the admin API over HTTP (loopback administers in the embedded default).
/// </summary>
public class RlsSilo : SiloProcessFixture
{
    private GrpcChannel? _channel;

    /// <summary>The generated client of <c>envoy.service.ratelimit.v3.RateLimitService</c>.</summary>
    internal RateLimitService.RateLimitServiceClient Rls { get; private set; } = null!;

    /// <summary>The HTTP API.</summary>
    public HttpClient Http => Host.Http;

    protected override void OnReady(HttpClient http)
    {
        _channel = GrpcChannel.ForAddress(Host.RlsAddress);
        Rls = new RateLimitService.RateLimitServiceClient(_channel);
    }

    /// <summary>Sets a domain's descriptors (JSON text of the <c>descriptors</c> array) and asserts it was stored.</summary>
    public async Task PutDomainAsync(string domain, string descriptorsJson)
    {
        using var content = new StringContent($"{{\"descriptors\":{descriptorsJson}}}", Encoding.UTF8, "application/json");
        using var response = await Http.PutAsync($"/v1/admin/domains/{domain}", content);
        Assert.True(response.IsSuccessStatusCode, $"PUT domain {domain}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>A unique domain name for one test.</summary>
    public static string NewDomain(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 64)];

    public new async ValueTask DisposeAsync()
    {
        _channel?.Dispose();
        await base.DisposeAsync();
    }
}

/// <summary>The collection every rate-limit test shares one silo in.</summary>
[CollectionDefinition(Name)]
public sealed class RlsCollection : ICollectionFixture<RlsSilo>
{
    public const string Name = "rls silo";
}

/// <summary>Builds requests.</summary>
internal static class Requests
{
    public static RateLimitRequest For(string domain, params RateLimitDescriptor[] descriptors)
    {
        var request = new RateLimitRequest { Domain = domain };
        request.Descriptors.AddRange(descriptors);
        return request;
    }

    public static RateLimitDescriptor Descriptor(params (string Key, string Value)[] entries)
    {
        var descriptor = new RateLimitDescriptor();
        descriptor.Entries.AddRange(entries.Select(e => new RateLimitDescriptor.Types.Entry { Key = e.Key, Value = e.Value }));
        return descriptor;
    }

    public static async Task<JsonNode> JsonAsync(this HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonNode>())!;
}
