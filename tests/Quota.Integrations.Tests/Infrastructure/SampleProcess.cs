using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Quota.Testing;

namespace Quota.Integrations.Tests.Infrastructure;

/// <summary>The sample web API (samples/Quota.Samples.WebApi) running as a child process on loopback, started as its README says.</summary>
public sealed class SampleProcess : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _log = new();
    private readonly Process _process;

    private SampleProcess(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public string Log => string.Join(Environment.NewLine, _log.TakeLast(60));

    /// <summary>
    /// Starts the sample with <c>--urls=URL --Quota:Client:Gateways:0=HOST:PORT</c> and the cluster id, and waits for
    /// <c>/healthz</c>. A free port found here can be taken by another test's process before the sample binds it (CI
    /// saw "address already in use" once): then it starts again on another, at most three times in all.
    /// </summary>
    public static async Task<SampleProcess> StartAsync(string gateway, string clusterId, params string[] settings)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartOnceAsync(gateway, clusterId, settings);
            }
            catch (InvalidOperationException e) when (attempt < 3 && e.Message.Contains("address already in use", StringComparison.Ordinal))
            {
                // Another port.
            }
        }
    }

    private static async Task<SampleProcess> StartOnceAsync(string gateway, string clusterId, string[] settings)
    {
        var (root, configuration, framework) = SiloProcess.Build();
        var dll = Path.Combine(root, "samples", "Quota.Samples.WebApi", "bin", configuration, framework, "Quota.Samples.WebApi.dll");
        var url = new Uri($"http://127.0.0.1:{SiloProcess.FreePorts(1)[0]}");
        var start = new ProcessStartInfo(SiloProcess.DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add($"--urls={url.ToString().TrimEnd('/')}");
        start.ArgumentList.Add($"--Quota:Client:Gateways:0={gateway}");
        start.ArgumentList.Add($"--Quota:Client:ClusterId={clusterId}");
        foreach (var setting in settings)
        {
            start.ArgumentList.Add(setting);
        }

        start.Environment.Remove("ASPNETCORE_URLS");
        var process = new Process { StartInfo = start };
        var sample = new SampleProcess(process, url);
        process.OutputDataReceived += (_, e) => sample.Record(e.Data);
        process.ErrorDataReceived += (_, e) => sample.Record(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < SiloProcess.StartupTimeout && !process.HasExited)
        {
            try
            {
                using var response = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return sample;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Listening but not answering yet.
            }

            await Task.Delay(100);
        }

        var log = sample.Log;
        await sample.DisposeAsync();
        throw new InvalidOperationException($"The sample did not answer /healthz.{Environment.NewLine}{log}");
    }

    private void Record(string? line)
    {
        if (line is not null)
        {
            _log.Enqueue(line);
            while (_log.Count > 500 && _log.TryDequeue(out _))
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await _process.WaitForExitAsync(wait.Token);
        }

        _process.Dispose();
    }
}
