using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quota.Abstractions;
using Quota.Client;
using Quota.Testing;

namespace Quota.Outbound.Tests;

/// <summary>
/// One real Quota silo (a child process) and an Orleans client connected to it from this process, shared by a test
/// class. Every test configures its own upstream (a fresh name), so tests do not share tokens.
/// </summary>
public sealed class OutboundFixture : IAsyncLifetime
{
    private SiloProcess? _silo;
    private IHost? _client;

    /// <summary>The silo's cluster id, for clients.</summary>
    public string ClusterId { get; } = $"outbound-{Guid.NewGuid():N}";

    /// <summary>The silo.</summary>
    public SiloProcess Silo => _silo ?? throw new InvalidOperationException("The silo has not started.");

    /// <summary>The Quota client connected to <see cref="Silo"/>.</summary>
    public IQuotaClient Quota => _client!.Services.GetRequiredService<IQuotaClient>();

    /// <summary>Everything logged in this process by the hosts the tests build (the fixture's client included).</summary>
    public CapturedLogs Logs { get; } = new();

    public async ValueTask InitializeAsync()
    {
        _silo = await SiloProcess.StartAsync([], ClusterId);
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders().AddProvider(Logs).SetMinimumLevel(LogLevel.Trace);
        builder.Services.AddQuotaClient(o =>
        {
            o.Gateways.Add($"127.0.0.1:{_silo.GatewayPort}");
            o.ClusterId = ClusterId;
        });
        _client = builder.Build();
        await _client.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.StopAsync();
            _client.Dispose();
        }

        if (_silo is not null)
        {
            await _silo.DisposeAsync();
        }
    }

    /// <summary>A fresh upstream name for one test.</summary>
    public static string NewUpstream(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..20];

    /// <summary>A secret no test could log by chance.</summary>
    public static string NewSecret(string token) => $"s3cret-{token}-{Guid.NewGuid():N}";

    /// <summary>
    /// Configures <paramref name="upstream"/> through the admin API (<c>POST /v1/admin/apply</c>): each token with its
    /// secret and one sliding-log policy of <paramref name="limit"/> per <paramref name="window"/>, and
    /// <paramref name="tenants"/> (shared, no reserve).
    /// </summary>
    public async Task ConfigureAsync(string upstream, IReadOnlyDictionary<string, string> secrets, int limit, TimeSpan window, params string[] tenants)
    {
        var document = new Dictionary<string, object>
        {
            ["upstreams"] = new Dictionary<string, object>
            {
                [upstream] = new
                {
                    bufferPercent = 0,
                    // The upstream's window (whole seconds): the token's, else one second.
                    window = window.Ticks % TimeSpan.TicksPerSecond == 0 ? window.ToString("c") : "00:00:01",
                    tokens = secrets.ToDictionary(
                        s => s.Key,
                        s => new { secret = s.Value, policies = new[] { new { name = "limit", algorithm = "sliding-log", limit, window = window.ToString("c") } } }),
                },
            },
            ["tenants"] = tenants.ToDictionary(t => t, _ => (object)new { tier = "standard", upstream }),
        };
        using var response = await Silo.Http.PostAsJsonAsync(new Uri("/v1/admin/apply", UriKind.Relative), document);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"apply answered {(int)response.StatusCode}: {body}");
    }

    /// <summary>A client calling <paramref name="upstream"/> through a <see cref="QuotaUpstreamHandler"/> with <paramref name="options"/>.</summary>
    public HttpClient Client(Uri upstream, QuotaUpstreamOptions options)
    {
        var loggers = LoggerFactory.Create(l => l.AddProvider(Logs).SetMinimumLevel(LogLevel.Trace));
        var handler = new QuotaUpstreamHandler(Quota, options, TimeProvider.System, loggers.CreateLogger<QuotaUpstreamHandler>())
        {
            InnerHandler = new SocketsHttpHandler(),
        };
        return new HttpClient(handler) { BaseAddress = upstream };
    }

    /// <summary>The token's allocation line (use and health) now.</summary>
    public async Task<TokenAllocation> TokenAsync(string upstream, string token)
    {
        var report = await Quota.GetAllocationAsync(upstream) ?? throw new InvalidOperationException($"upstream {upstream} is not configured");
        return report.Tokens.Single(t => t.Id == token);
    }

    /// <summary>For messages.</summary>
    public static string Show(object value) => JsonSerializer.Serialize(value);
}
