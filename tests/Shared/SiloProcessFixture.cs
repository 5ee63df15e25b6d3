using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;

namespace Quota.Testing;

/// <summary>
/// The real Quota host (<c>quota-silo.dll</c>, built from silo/Quota.Silo.csproj) started as a child process on
/// free ports, reached over real HTTP; killed by its process id on dispose. Shared by the HTTP and CLI suites. Its
/// stdout and stderr are captured so a failing assertion can show what the host said.
/// </summary>
public abstract class SiloProcessFixture : IAsyncLifetime
{
    private const int MaxLogLines = 4000;
    private static readonly TimeSpan StartupTimeout = TimeSpan.FromSeconds(60);

    private readonly ConcurrentQueue<string> _log = new();
    private Process? _process;
    private HttpClient? _http;
    /// <summary>Where the host's HTTP listens, e.g. <c>http://127.0.0.1:40123</c>.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Configuration passed on the command line (<c>--Key=Value</c>), besides ports and cluster id.</summary>
    protected virtual IEnumerable<string> Settings => [];

    /// <summary>Called once the host answers, with an HTTP client on its address that lives as long as the fixture.</summary>
    protected virtual void OnReady(HttpClient http)
    {
    }

    /// <summary>The last lines the host wrote, for failure messages.</summary>
    public string LogTail(int lines = 80)
    {
        var all = _log.ToArray();
        var tail = all.Length <= lines ? all : all[^lines..];
        return tail.Length == 0
            ? "(the host wrote nothing)"
            : $"--- last {tail.Length} lines of the host's output ---{Environment.NewLine}{string.Join(Environment.NewLine, tail)}";
    }

    public async ValueTask InitializeAsync()
    {
        var silo = LocateSilo();
        var failures = new StringBuilder();

        // A port picked as free can be taken by someone else before the host binds it: then retry with fresh ports.
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var ports = FreePorts(3);
            var linesBefore = _log.Count;
            var baseAddress = new Uri($"http://127.0.0.1:{ports[0]}");
            var process = Start(silo, baseAddress, ports[1], ports[2]);
            _process = process;
            var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
            if (await WaitUntilReadyAsync(process, http))
            {
                _http = http;
                BaseAddress = baseAddress;
                OnReady(http);
                return;
            }

            http.Dispose();
            var exited = process.HasExited;
            failures.AppendLine(exited
                ? $"attempt {attempt}: the host exited with code {process.ExitCode} before answering /healthz."
                : $"attempt {attempt}: the host did not answer /healthz within {StartupTimeout.TotalSeconds} s.");
            await StopAsync();
            var portTaken = _log.Skip(linesBefore).Any(line => line.Contains("already in use", StringComparison.OrdinalIgnoreCase));
            if (!exited || !portTaken)
            {
                break;
            }
        }

        throw new InvalidOperationException($"The Quota host did not start.{Environment.NewLine}{failures}{LogTail(400)}");
    }

    public async ValueTask DisposeAsync()
    {
        _http?.Dispose();
        await StopAsync();
        GC.SuppressFinalize(this);
    }

    private Process Start(string silo, Uri baseAddress, int siloPort, int gatewayPort)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,

            // The host's appsettings.json (log levels) is read from the content root: its own directory.
            WorkingDirectory = Path.GetDirectoryName(silo)!,
        };
        start.ArgumentList.Add(silo);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(baseAddress.ToString().TrimEnd('/'));
        start.ArgumentList.Add($"--Quota:Cluster:SiloPort={siloPort}");
        start.ArgumentList.Add($"--Quota:Cluster:GatewayPort={gatewayPort}");
        start.ArgumentList.Add($"--Quota:Cluster:ClusterId=tests-{Guid.NewGuid():N}");
        start.ArgumentList.Add("--Logging:LogLevel:Quota=Debug");
        foreach (var setting in Settings)
        {
            start.ArgumentList.Add(setting);
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment.Remove("ASPNETCORE_HTTP_PORTS");

        _log.Enqueue($"$ {start.FileName} {string.Join(' ', start.ArgumentList)}");
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Record(e.Data);
        process.ErrorDataReceived += (_, e) => Record(e.Data is null ? null : "stderr: " + e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Polls <c>/healthz</c> until it answers, the host exits, or the start-up timeout passes.</summary>
    private static async Task<bool> WaitUntilReadyAsync(Process process, HttpClient http)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < StartupTimeout)
        {
            if (process.HasExited)
            {
                return false;
            }

            try
            {
                using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                using var response = await http.GetAsync(new Uri("/healthz", UriKind.Relative), attempt.Token);
                if (response.StatusCode == HttpStatusCode.OK && await response.Content.ReadAsStringAsync(attempt.Token) == "ok\n")
                {
                    return true;
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

            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        return false;
    }

    private async Task StopAsync()
    {
        if (_process is not { } process)
        {
            return;
        }

        _process = null;
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await process.WaitForExitAsync(wait.Token);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        catch (OperationCanceledException)
        {
            Record($"the host (pid {process.Id}) did not exit within 15 s of being killed");
        }
        finally
        {
            process.Dispose();
        }
    }

    private void Record(string? line)
    {
        if (line is null)
        {
            return;
        }

        _log.Enqueue(line);
        while (_log.Count > MaxLogLines && _log.TryDequeue(out _))
        {
        }
    }

    /// <summary>Distinct free loopback ports: all are held open together so none repeats, then freed.</summary>
    internal static int[] FreePorts(int count)
    {
        var listeners = new List<TcpListener>(count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
                listener.Dispose();
            }
        }
    }

    /// <summary>The <c>dotnet</c> host running these tests, else the one on PATH.</summary>
    internal static string DotnetHost()
    {
        var hostPath = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(hostPath) && File.Exists(hostPath))
        {
            return hostPath;
        }

        var self = Environment.ProcessPath;
        return self is not null && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
    }

    /// <summary>
    /// silo/bin/{Configuration}/{tfm}/quota-silo.dll under the repository root (the directory holding Quota.sln
    /// above this test assembly). <c>QUOTA_SILO_DLL</c> overrides.
    /// </summary>
    private static string LocateSilo()
    {
        if (Environment.GetEnvironmentVariable("QUOTA_SILO_DLL") is { Length: > 0 } overridden)
        {
            return File.Exists(overridden)
                ? overridden
                : throw new InvalidOperationException($"QUOTA_SILO_DLL names '{overridden}', which does not exist.");
        }

        var (root, configuration, framework) = Build();
        var silo = Path.Combine(root, "silo", "bin", configuration, framework, "quota-silo.dll");
        return File.Exists(silo)
            ? silo
            : throw new InvalidOperationException($"{silo} does not exist; build silo/Quota.Silo.csproj ({configuration}) first.");
    }

    /// <summary>The repository root (the directory holding Quota.sln above this test assembly), configuration and framework.</summary>
    internal static (string Root, string Configuration, string Framework) Build()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory);
        var framework = here.Name;
        var configuration = typeof(SiloProcessFixture).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        for (var dir = here; dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Quota.sln")))
            {
                return (dir.FullName, configuration, framework);
            }
        }

        throw new InvalidOperationException($"No Quota.sln above {here.FullName}: cannot find the repository root and the silo build.");
    }
}
