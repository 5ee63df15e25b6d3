using System.Diagnostics;
using System.Text;

namespace Quota.Testing;

/// <summary>
/// A throwaway PostgreSQL server for tests: <c>initdb</c> into a temporary directory, started on a free loopback
/// port (unix socket in the same directory), trust authentication for the user <c>quota</c>, fsync off. Stopped
/// by its own data directory (<c>pg_ctl stop</c>) and deleted on dispose. It can be stopped and started again on
/// the same port to simulate an outage.
/// </summary>
/// <remarks>
/// The server binaries come from <c>QUOTA_PG_BIN</c>, else the newest <c>/usr/lib/postgresql/*/bin</c> (Debian's
/// <c>postgresql</c> package). PostgreSQL refuses to run as root: when the tests run as root, the server runs as
/// the <c>postgres</c> system user the package creates. Missing binaries fail the test with how to install them;
/// these tests never skip.
/// </remarks>
public sealed class PostgresServer : IAsyncDisposable
{
    /// <summary>The database user the tests connect as.</summary>
    public const string User = "quota";

    private readonly string _bin;
    private readonly string _directory;
    private readonly bool _asPostgresUser;

    private PostgresServer(string bin, string directory, int port, bool asPostgresUser)
    {
        _bin = bin;
        _directory = directory;
        Port = port;
        _asPostgresUser = asPostgresUser;
    }

    /// <summary>The loopback port the server listens on.</summary>
    public int Port { get; }

    /// <summary>Whether the server is running (as far as this object knows).</summary>
    public bool IsRunning { get; private set; }

    /// <summary>The temporary directory holding the data directory, the socket and the log; deleted on dispose.</summary>
    public string WorkDirectory => _directory;

    /// <summary>
    /// The server's process id (the postmaster's, first line of its <c>postmaster.pid</c>) while it runs, else null: for a
    /// caller that must be able to stop it by id should this process die before disposing it.
    /// </summary>
    public int? ProcessId =>
        IsRunning && File.Exists(Path.Combine(DataDirectory, "postmaster.pid"))
            && int.TryParse(File.ReadLines(Path.Combine(DataDirectory, "postmaster.pid")).FirstOrDefault(), out var pid)
            ? pid
            : null;

    private string DataDirectory => Path.Combine(_directory, "data");

    /// <summary>Creates and starts a fresh server.</summary>
    /// <exception cref="InvalidOperationException">PostgreSQL is not installed, or the server did not start (with its log).</exception>
    public static async Task<PostgresServer> StartAsync()
    {
        var bin = FindBinaries();
        var asPostgres = Environment.UserName == "root";
        var directory = Path.Combine(Path.GetTempPath(), $"quota-pg-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var server = new PostgresServer(bin, directory, SiloProcess.FreePorts(1)[0], asPostgres);
        if (asPostgres)
        {
            await RunAsync("/bin/chown", ["postgres", directory], asPostgres: false);
        }

        await server.RunAsync(Path.Combine(bin, "initdb"), ["-D", server.DataDirectory, "-U", User, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>An Npgsql connection string for <paramref name="database"/> on this server.</summary>
    public string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Port};Username={User};Database={database};Timeout=5;Command Timeout=15;Pooling=true";

    /// <summary>Creates an empty database with a fresh name and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix = "quota")
    {
        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 33, 63)];
        await using var connection = new Npgsql.NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var create = new Npgsql.NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await create.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    /// <summary>Stops the server (fast shutdown: connections are cut, nothing committed is lost).</summary>
    public async Task StopAsync()
    {
        if (IsRunning)
        {
            await RunAsync(Path.Combine(_bin, "pg_ctl"), ["stop", "-D", DataDirectory, "-m", "fast", "-w"]);
            IsRunning = false;
        }
    }

    /// <summary>Starts the server (again) on the same port and data directory, and waits until it accepts connections.</summary>
    public async Task StartAgainAsync()
    {
        var options = $"-c listen_addresses=127.0.0.1 -p {Port} -k {_directory} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300";
        await RunAsync(Path.Combine(_bin, "pg_ctl"), ["start", "-D", DataDirectory, "-l", Path.Combine(_directory, "server.log"), "-o", options, "-w", "-t", "60"]);
        IsRunning = true;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (IsRunning)
            {
                await RunAsync(Path.Combine(_bin, "pg_ctl"), ["stop", "-D", DataDirectory, "-m", "immediate", "-w"]);
                IsRunning = false;
            }
        }
        finally
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // Left for the OS to clean; it is in the temp directory.
            }
        }
    }

    private static string FindBinaries()
    {
        if (Environment.GetEnvironmentVariable("QUOTA_PG_BIN") is { Length: > 0 } configured)
        {
            return File.Exists(Path.Combine(configured, "initdb"))
                ? configured
                : throw new InvalidOperationException($"QUOTA_PG_BIN is '{configured}', which has no initdb.");
        }

        var root = new DirectoryInfo("/usr/lib/postgresql");
        var newest = root.Exists
            ? root.GetDirectories()
                .Select(d => (Dir: d, Version: int.TryParse(d.Name, out var v) ? v : -1))
                .Where(d => d.Version > 0 && File.Exists(Path.Combine(d.Dir.FullName, "bin", "initdb")))
                .OrderByDescending(d => d.Version)
                .Select(d => Path.Combine(d.Dir.FullName, "bin"))
                .FirstOrDefault()
            : null;
        return newest ?? throw new InvalidOperationException(
            "PostgreSQL server binaries were not found under /usr/lib/postgresql/*/bin. Install the distribution's package "
            + "(apt-get install postgresql; .ci/run does this) or set QUOTA_PG_BIN to the directory holding initdb and pg_ctl.");
    }

    private Task RunAsync(string program, string[] arguments) => RunAsync(program, arguments, _asPostgresUser);

    private static async Task RunAsync(string program, string[] arguments, bool asPostgres)
    {
        var start = new ProcessStartInfo(asPostgres ? "/usr/sbin/runuser" : program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (asPostgres)
        {
            foreach (var a in (string[])["-u", "postgres", "--", program])
            {
                start.ArgumentList.Add(a);
            }
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(program)} {string.Join(' ', arguments)} failed with exit code {process.ExitCode}:{Environment.NewLine}{output}");
        }
    }
}
