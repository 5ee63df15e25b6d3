using Microsoft.Extensions.Hosting;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Quota.Outbound;

namespace Quota.Samples.Worker;

/// <summary>
/// Calls the upstream from every tenant with <see cref="WorkerOptions.Concurrency"/> calls in flight each, prints a
/// line a second and, after <see cref="WorkerOptions.Duration"/>, a <c>SUMMARY {json}</c> line, then stops the host.
/// </summary>
internal sealed class CallingWorker(
    WorkerOptions options,
    UpstreamAddress address,
    IHttpClientFactory clients,
    IHostApplicationLifetime lifetime,
    TimeProvider time) : BackgroundService
{
    private static readonly Dictionary<string, string> SampleTokens = new()
    {
        ["t1"] = "sample-secret-1",
        ["t2"] = "sample-secret-2",
        ["t3"] = "sample-secret-3",
    };

    private readonly ConcurrentDictionary<string, long> _ok = new();
    private readonly ConcurrentDictionary<string, long> _byToken = new();
    private long _upstream429;
    private long _denied;
    private long _errors;
    private FakeUpstream? _fake;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Apply is { } silo)
        {
            await ApplyTenancyAsync(silo, options.AdminToken, cancellationToken);
        }

        if (options.UpstreamUrl is { } url)
        {
            address.Value = url;
        }
        else
        {
            _fake = await FakeUpstream.StartAsync(SampleTokens, limit: 10, window: TimeSpan.FromSeconds(1));
            address.Value = _fake.BaseAddress;
            Console.WriteLine($"fake upstream at {_fake.BaseAddress} (10 requests per second per token)");
        }

        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var run = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            run.CancelAfter(options.Duration);
            var callers = options.Tenants
                .SelectMany(tenant => Enumerable.Range(0, options.Concurrency).Select(_ => CallAsync(tenant, run.Token, stoppingToken)))
                .ToList();
            var reporter = ReportAsync(run.Token);
            await Task.WhenAll(callers);
            await reporter;
            Console.WriteLine("SUMMARY " + JsonSerializer.Serialize(new
            {
                ok = _ok.ToDictionary(),
                tokens = _byToken.ToDictionary(),
                upstream429 = Interlocked.Read(ref _upstream429),
                denied = Interlocked.Read(ref _denied),
                errors = Interlocked.Read(ref _errors),
                upstream = _fake?.Counts().ToDictionary(c => c.Key, c => new { c.Value.Admitted, c.Value.RateLimited, c.Value.Injected, c.Value.MostInWindow }),
            }));
        }
        catch (Exception error) when (error is not OperationCanceledException)
        {
            Console.Error.WriteLine($"the worker failed: {error.Message}");
            Environment.ExitCode = 1;
        }
        finally
        {
            if (_fake is not null)
            {
                await _fake.DisposeAsync();
            }

            lifetime.StopApplication();
        }
    }

    /// <summary>Calls until <paramref name="run"/> ends; a call in flight then is finished and counted (unless the host stops).</summary>
    private async Task CallAsync(string tenant, CancellationToken run, CancellationToken cancellationToken)
    {
        var client = clients.CreateClient(WorkerOptions.ClientName(tenant));
        while (!run.IsCancellationRequested)
        {
            try
            {
                using var response = await client.GetAsync(new Uri($"orders?tenant={Uri.EscapeDataString(tenant)}", UriKind.Relative), cancellationToken);
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    Interlocked.Increment(ref _upstream429);
                }
                else if (response.IsSuccessStatusCode && await response.Content.ReadFromJsonAsync<OrderAnswer>(cancellationToken) is { } answer)
                {
                    _ok.AddOrUpdate(tenant, 1, (_, n) => n + 1);
                    _byToken.AddOrUpdate(answer.Token, 1, (_, n) => n + 1);
                }
                else
                {
                    Interlocked.Increment(ref _errors);
                }
            }
            catch (QuotaUpstreamRejectedException)
            {
                // Quota could not admit it within MaxWait; it was never sent.
                Interlocked.Increment(ref _denied);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref _errors);
            }
        }
    }

    private async Task ReportAsync(CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var injected = false;
        using var tick = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        try
        {
            while (await tick.WaitForNextTickAsync(cancellationToken))
            {
                var elapsed = time.GetElapsedTime(started);
                if (_fake is not null && !injected && options.Inject429At > TimeSpan.Zero && elapsed >= options.Inject429At)
                {
                    _fake.Inject("t2", 429, "2");
                    injected = true;
                    Console.WriteLine("injected: the upstream answers the next request on t2 with 429, Retry-After: 2");
                }

                Console.WriteLine(
                    $"{elapsed.TotalSeconds:0}s ok {string.Join(' ', _ok.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}"))}" +
                    $" | tokens {string.Join(' ', _byToken.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}"))}" +
                    $" | upstream 429s {Interlocked.Read(ref _upstream429)} denied {Interlocked.Read(ref _denied)}");
            }
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
    }

    private static async Task ApplyTenancyAsync(Uri silo, string? adminToken, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = silo };
        using var body = new StringContent(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "tenancy.yaml"), cancellationToken));
        body.Headers.ContentType = new MediaTypeHeaderValue("application/yaml");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/admin/apply") { Content = body };
        if (adminToken is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        }

        using var response = await http.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{silo}v1/admin/apply answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancellationToken)}");
        }

        Console.WriteLine($"applied tenancy.yaml to {silo}");
    }

    private sealed record OrderAnswer(string Token);
}
