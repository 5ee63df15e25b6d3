using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Quota.Testing;

/// <summary>
/// One real Quota host (<c>quota-silo.dll</c>, built from silo/Quota.Silo.csproj) running as a child process on
/// loopback, reached over real HTTP. It can be stopped gracefully (SIGTERM, as an orchestrator would) or killed
/// outright (SIGKILL, a crash). Its stdout and stderr are captured so a failing assertion can show what it said.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private const int MaxLogLines = 4000;

    /// <summary>How long a host may take to answer <c>/healthz</c>.</summary>
    public static readonly TimeSpan StartupTimeout = TimeSpan.FromSeconds(90);

    private const int StartLines = 300;

    private readonly ConcurrentQueue<string> _log = new();
    private readonly ConcurrentQueue<string> _start = new();
    private int _startLines;
    private Process? _process;

    private SiloProcess(Uri baseAddress, int siloPort, int gatewayPort, int rlsPort)
    {
        RlsAddress = new Uri($"http://127.0.0.1:{rlsPort}");
        BaseAddress = baseAddress;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>Where the host's HTTP listens, e.g. <c>http://127.0.0.1:40123</c>.</summary>
    public Uri BaseAddress { get; }

    /// <summary>The silo-to-silo port.</summary>
    public int SiloPort { get; }

    /// <summary>The Orleans gateway port.</summary>
    public int GatewayPort { get; }

    /// <summary>
    /// Where Envoy's rate-limit service (gRPC, plaintext HTTP/2) listens, on a fresh port of its own so hosts started
    /// side by side never share the default 8081; a setting <c>--Quota:Rls:Url=…</c> given to the host replaces it.
    /// </summary>
    public Uri RlsAddress { get; }

    /// <summary>An HTTP client on <see cref="BaseAddress"/>.</summary>
    public HttpClient Http { get; }

    /// <summary>The host's process id while it runs.</summary>
    public int? ProcessId => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>The host's exit code once it has exited; null while it runs or if it never started.</summary>
    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    /// <summary>Whether the host has exited (or was never started).</summary>
    public bool HasExited => _process is null || _process.HasExited;

    /// <summary>
    /// Starts a host on fresh free ports with <paramref name="settings"/> (<c>--Key=Value</c>) and waits until it
    /// answers <c>/healthz</c>. A port taken between picking and binding is retried with fresh ports.
    /// <paramref name="environment"/> adds variables to the host's environment (e.g. the pod variables a Kubernetes
    /// manifest sets); a null value removes one.
    /// </summary>
    /// <exception cref="InvalidOperationException">The host did not come up; the message carries its output.</exception>
    public static async Task<SiloProcess> StartAsync(IEnumerable<string> settings, string? clusterId = null, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var silo = LocateSilo();
        var list = settings.ToList();
        var failures = new StringBuilder();
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var ports = FreePorts(4);
            var host = new SiloProcess(new Uri($"http://127.0.0.1:{ports[0]}"), ports[1], ports[2], ports[3]);
            host.Start(silo, list, clusterId ?? $"tests-{Guid.NewGuid():N}", environment);
            if (await host.WaitUntilReadyAsync())
            {
                return host;
            }

            var exited = host.HasExited;
            failures.AppendLine(exited
                ? $"attempt {attempt}: the host exited with code {host._process!.ExitCode} before answering /healthz."
                : $"attempt {attempt}: the host did not answer /healthz within {StartupTimeout.TotalSeconds} s.");
            var portTaken = host._log.Any(line => line.Contains("already in use", StringComparison.OrdinalIgnoreCase));
            var tail = host.LogTail(400);
            await host.DisposeAsync();
            if (!exited || !portTaken)
            {
                failures.AppendLine(tail);
                break;
            }
        }

        throw new InvalidOperationException($"The Quota host did not start.{Environment.NewLine}{failures}");
    }

    /// <summary>
    /// Starts a host with <paramref name="settings"/> that is expected to refuse to start; returns its exit code
    /// and everything it wrote once it has exited (or throws if it is still running after the start-up timeout).
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(IEnumerable<string> settings, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var ports = FreePorts(4);
        await using var host = new SiloProcess(new Uri($"http://127.0.0.1:{ports[0]}"), ports[1], ports[2], ports[3]);
        host.Start(LocateSilo(), [.. settings], $"tests-{Guid.NewGuid():N}", environment);
        using var wait = new CancellationTokenSource(StartupTimeout);
        await host._process!.WaitForExitAsync(wait.Token);
        return (host._process.ExitCode, string.Join(Environment.NewLine, host._log));
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

    /// <summary>The first lines the host wrote (up to 300): what it said at start, kept however much it writes later.</summary>
    public IReadOnlyCollection<string> StartOutput => _start.ToArray();

    /// <summary>Every line the host wrote so far (the last 4000).</summary>
    public IReadOnlyCollection<string> Output => _log.ToArray();

    /// <summary>Kills the host at once (SIGKILL): nothing it holds in memory is flushed.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await process.WaitForExitAsync(wait.Token);
        }
    }

    /// <summary>
    /// Stops the host's process where it is (SIGSTOP): its sockets stay open and the kernel keeps them alive, but nothing
    /// answers, as a silo that hangs. <see cref="Resume"/> lets it run again.
    /// </summary>
    /// <remarks>
    /// Returns once every thread of the process is stopped (state <c>T</c> in <c>/proc/PID/task/*/stat</c>): the signal
    /// is delivered asynchronously, and on a loaded machine a thread already running could otherwise still answer a call
    /// sent just after.
    /// </remarks>
    public void Pause()
    {
        Signal(19);
        var pid = _process!.Id;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!AllThreadsStopped(pid))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"The host (pid {pid}) did not stop within 10 s of SIGSTOP.");
            }

            Thread.Yield();
        }
    }

    private static bool AllThreadsStopped(int pid)
    {
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                // "pid (comm) S ...": the state follows the last ')' (comm may hold spaces and parentheses).
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                if (stat[stat.LastIndexOf(')') + 2] != 'T')
                {
                    return false;
                }
            }
            catch (IOException)
            {
                // A thread that exited meanwhile.
            }
        }

        return true;
    }

    /// <summary>Lets a host stopped by <see cref="Pause"/> run again (SIGCONT).</summary>
    public void Resume() => Signal(18);

    private void Signal(int signal)
    {
        if (_process is not { HasExited: false } process || SendSignal(process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"Signal {signal} could not be sent to the host.");
        }
    }

    /// <summary>Asks the host to shut down (SIGTERM) and waits for it to exit; kills it if it takes longer than <paramref name="timeout"/>.</summary>
    public async Task StopGracefullyAsync(TimeSpan timeout)
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }

        _ = SendSignal(process.Id, 15);
        using var wait = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            Record($"the host (pid {process.Id}) did not exit within {timeout.TotalSeconds} s of SIGTERM; killing it");
            await KillAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (_process is { } process)
        {
            try
            {
                await KillAsync();
            }
            catch (InvalidOperationException)
            {
                // Never started or already gone.
            }
            catch (OperationCanceledException)
            {
                Record($"the host (pid {process.Id}) did not exit within 15 s of being killed");
            }
            finally
            {
                process.Dispose();
                _process = null;
            }
        }
    }

    private void Start(string silo, List<string> settings, string clusterId, IReadOnlyDictionary<string, string?>? environment)
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
        start.ArgumentList.Add(BaseAddress.ToString().TrimEnd('/'));
        start.ArgumentList.Add($"--Quota:Cluster:SiloPort={SiloPort}");
        start.ArgumentList.Add($"--Quota:Cluster:GatewayPort={GatewayPort}");
        start.ArgumentList.Add($"--Quota:Cluster:ClusterId={clusterId}");
        start.ArgumentList.Add($"--Quota:Rls:Url={RlsAddress.ToString().TrimEnd('/')}");
        start.ArgumentList.Add("--Logging:LogLevel:Quota=Debug");

        // Many silos share two cores during the suite, where the thread pool's queue delay passes the default 100 ms
        // often enough that shedding by it would make answers depend on the machine's load. Tests that shed by delay
        // set it again (a later setting wins).
        start.ArgumentList.Add("--Quota:Limits:MaxQueueDelay=00:00:00");
        foreach (var setting in settings)
        {
            start.ArgumentList.Add(setting);
        }

        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment.Remove("ASPNETCORE_HTTP_PORTS");
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[name] = value;
        }

        // Secrets stay out of the failure output.
        _log.Enqueue($"$ {start.FileName} {string.Join(' ', start.ArgumentList.Select(Redact))}");
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Record(e.Data);
        process.ErrorDataReceived += (_, e) => Record(e.Data is null ? null : "stderr: " + e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    private static string Redact(string argument) =>
        argument.Contains("Secrets:", StringComparison.Ordinal) || argument.Contains("Password=", StringComparison.OrdinalIgnoreCase)
            ? argument[..(argument.IndexOf('=', StringComparison.Ordinal) + 1)] + "***"
            : argument;

    /// <summary>Polls <c>/healthz</c> until it answers, the host exits, or the start-up timeout passes.</summary>
    private async Task<bool> WaitUntilReadyAsync()
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < StartupTimeout)
        {
            if (HasExited)
            {
                return false;
            }

            try
            {
                using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                using var response = await Http.GetAsync(new Uri("/healthz", UriKind.Relative), attempt.Token);
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

    private void Record(string? line)
    {
        if (line is null)
        {
            return;
        }

        _log.Enqueue(line);
        if (Volatile.Read(ref _startLines) < StartLines && Interlocked.Increment(ref _startLines) <= StartLines)
        {
            _start.Enqueue(line);
        }

        while (_log.Count > MaxLogLines && _log.TryDequeue(out _))
        {
        }
    }

#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe code enabled in the test projects; a plain import suffices.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
#pragma warning restore SYSLIB1054

    /// <summary>Distinct free loopback ports: all are held open together so none repeats, then freed.</summary>
    public static int[] FreePorts(int count)
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
    public static string DotnetHost()
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
    public static (string Root, string Configuration, string Framework) Build()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory);
        var framework = here.Name;
        var configuration = typeof(SiloProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
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
