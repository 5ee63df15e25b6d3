using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using Quota.Samples.Worker;
using Quota.Testing;

namespace Quota.Outbound.Tests;

/// <summary>
/// The worker sample as users run it: two processes against one silo, both calling one fake upstream through the
/// handler with three tokens shared by two tenants (samples/Quota.Samples.Worker/tenancy.yaml, applied through the
/// admin API as the README says).
/// </summary>
public sealed class WorkerSampleTests : IAsyncLifetime
{
    private static readonly Dictionary<string, string> Secrets = new()
    {
        ["t1"] = "sample-secret-1",
        ["t2"] = "sample-secret-2",
        ["t3"] = "sample-secret-3",
    };

    private readonly string _clusterId = $"worker-{Guid.NewGuid():N}";
    private SiloProcess? _silo;

    public async ValueTask InitializeAsync() => _silo = await SiloProcess.StartAsync([], _clusterId);

    public async ValueTask DisposeAsync()
    {
        if (_silo is not null)
        {
            await _silo.DisposeAsync();
        }
    }

    [Fact]
    public async Task TwoWorkersNeverExceedTheUpstreamsPerTokenLimitAndRecoverFromAnInjected429()
    {
        var (root, configuration, framework) = SiloProcess.Build();
        // The sample's margin is 10 per 2 s (a request may reach the upstream up to a second after Quota admitted it).
        // Here the whole suite shares two cores, and a full run once delivered requests on t1 more than a second late
        // (2 of 25 refused by the upstream, MostInWindow 10). The test counts 10 per 3 s, and reserves 3 a second per
        // tenant (the pool then holds 9, 80% of which is 7), so only a delay past two seconds could fail it. Quota's
        // own ceiling is exact either way; the margin is for delivery.
        var yaml = (await File.ReadAllTextAsync(Path.Combine(root, "samples", "Quota.Samples.Worker", "tenancy.yaml"), TestContext.Current.CancellationToken))
            .Replace("window: \"00:00:02\"", "window: \"00:00:03\"", StringComparison.Ordinal)
            .Replace("reserved: 5", "reserved: 3", StringComparison.Ordinal); // reserves at most 80% of the pool
        Assert.Equal(3, yaml.Split("window: \"00:00:03\"").Length - 1);
        Assert.Equal(2, yaml.Split("reserved: 3").Length - 1);
        using (var document = new StringContent(yaml))
        {
            document.Headers.ContentType = new MediaTypeHeaderValue("application/yaml");
            using var applied = await _silo!.Http.PostAsync(new Uri("/v1/admin/apply", UriKind.Relative), document, TestContext.Current.CancellationToken);
            Assert.True(applied.IsSuccessStatusCode, await applied.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        await using var upstream = await FakeUpstream.StartAsync(Secrets, limit: 10, TimeSpan.FromSeconds(1));
        var sample = Path.Combine(root, "samples", "Quota.Samples.Worker", "bin", configuration, framework, "Quota.Samples.Worker.dll");
        using var first = Worker.Start(sample, _silo.GatewayPort, _clusterId, upstream.BaseAddress);
        using var second = Worker.Start(sample, _silo.GatewayPort, _clusterId, upstream.BaseAddress);

        // Both are calling (each has printed its second report): the upstream answers t2's next request with a 429.
        await Task.WhenAll(first.Reported(2), second.Reported(2)).WaitAsync(TimeSpan.FromSeconds(120), TestContext.Current.CancellationToken);
        upstream.Inject("t2", 429, "2");

        var summaries = await Task.WhenAll(first.SummaryAsync(), second.SummaryAsync());
        var counts = upstream.Counts();
        var shown = $"upstream: {OutboundFixture.Show(counts.ToDictionary(c => c.Key, c => new { c.Value.Admitted, c.Value.RateLimited, c.Value.Injected, c.Value.MostInWindow }))}" +
            $"{Environment.NewLine}workers: {string.Join(Environment.NewLine, summaries.Select(s => s.GetRawText()))}";

        // Never over a token's limit: the upstream refused nothing of its own accord, and no second had more than 10.
        foreach (var (token, count) in counts)
        {
            Assert.True(count.RateLimited == 0 && count.MostInWindow <= upstream.Limit, $"token {token} went over the upstream's limit; {shown}");
            Assert.True(count.Admitted > 0, $"token {token} was never used; {shown}");
        }

        // The injected 429 was the only one the workers saw, and t2 served again once its Retry-After had passed.
        Assert.Equal(1, counts["t2"].Injected);
        Assert.True(summaries.Sum(s => s.GetProperty("upstream429").GetInt64()) == 1, shown);
        var pausedUntil = counts["t2"].InjectedAt[0] + TimeSpan.FromSeconds(2);
        Assert.True(counts["t2"].AdmittedAt.Any(at => at >= pausedUntil), $"t2 was not used after its pause ended at {pausedUntil:O}; {shown}");

        // Every request the upstream admitted was answered to a worker, for both tenants in both processes.
        Assert.True(counts.Values.Sum(c => c.Admitted) == summaries.Sum(s => s.GetProperty("ok").EnumerateObject().Sum(p => p.Value.GetInt64())), shown);
        foreach (var summary in summaries)
        {
            Assert.True(summary.GetProperty("ok").TryGetProperty("acme", out var acme) && acme.GetInt64() > 0, shown);
            Assert.True(summary.GetProperty("ok").TryGetProperty("globex", out var globex) && globex.GetInt64() > 0, shown);
            Assert.Equal(0, summary.GetProperty("errors").GetInt64());
        }
    }

    /// <summary>One worker sample process, its output captured.</summary>
    private sealed class Worker : IDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _output = new();
        private readonly ConcurrentDictionary<int, TaskCompletionSource> _reports = new();
        private readonly TaskCompletionSource<JsonElement> _summary = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private Worker(Process process) => _process = process;

        public static Worker Start(string sample, int gatewayPort, string clusterId, Uri upstream)
        {
            var start = new ProcessStartInfo(SiloProcess.DotnetHost())
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = Path.GetDirectoryName(sample)!,
            };
            foreach (var argument in new[]
            {
                sample, $"--Quota:Client:Gateways:0=127.0.0.1:{gatewayPort}", $"--Quota:Client:ClusterId={clusterId}",
                $"--Worker:UpstreamUrl={upstream}", "--Worker:Duration=00:00:08",
            })
            {
                start.ArgumentList.Add(argument);
            }

            var worker = new Worker(new Process { StartInfo = start });
            worker._process.OutputDataReceived += (_, e) => worker.Record(e.Data);
            worker._process.ErrorDataReceived += (_, e) => worker.Record(e.Data is null ? null : "stderr: " + e.Data);
            worker._process.Start();
            worker._process.BeginOutputReadLine();
            worker._process.BeginErrorReadLine();
            return worker;
        }

        /// <summary>Completes once the worker has printed its report for second <paramref name="second"/>.</summary>
        public Task Reported(int second) => _reports.GetOrAdd(second, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

        /// <summary>The worker's SUMMARY, once it has exited (at most 90 s).</summary>
        public async Task<JsonElement> SummaryAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"the worker did not exit within 90 s:{Environment.NewLine}{string.Join(Environment.NewLine, _output)}");
            }

            Assert.True(_process.ExitCode == 0 && _summary.Task.IsCompleted, $"the worker exited with {_process.ExitCode}:{Environment.NewLine}{string.Join(Environment.NewLine, _output)}");
            return await _summary.Task;
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.Dispose();
        }

        private void Record(string? line)
        {
            if (line is null)
            {
                return;
            }

            _output.Enqueue(line);
            if (line.StartsWith("SUMMARY ", StringComparison.Ordinal))
            {
                _summary.TrySetResult(JsonDocument.Parse(line["SUMMARY ".Length..]).RootElement.Clone());
            }
            else if (line.Split('s', 2)[0] is var number && int.TryParse(number, out var second) && line.StartsWith($"{second}s ok", StringComparison.Ordinal))
            {
                _reports.GetOrAdd(second, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
        }
    }
}
