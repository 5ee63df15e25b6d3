namespace Quota.Testing;

/// <summary>
/// A fixture owning one real Quota host (see <see cref="SiloProcess"/>) for a test class or collection; killed on
/// dispose. Shared by the HTTP and CLI suites.
/// </summary>
public abstract class SiloProcessFixture : IAsyncLifetime
{
    private SiloProcess? _host;

    /// <summary>The running host.</summary>
    public SiloProcess Host => _host ?? throw new InvalidOperationException("The host has not started.");

    /// <summary>Where the host's HTTP listens, e.g. <c>http://127.0.0.1:40123</c>.</summary>
    public Uri BaseAddress => Host.BaseAddress;

    /// <summary>Configuration passed on the command line (<c>--Key=Value</c>), besides ports and cluster id.</summary>
    protected virtual IEnumerable<string> Settings => [];

    /// <summary>Called once the host answers, with an HTTP client on its address that lives as long as the fixture.</summary>
    protected virtual void OnReady(HttpClient http)
    {
    }

    /// <summary>The last lines the host wrote, for failure messages.</summary>
    public string LogTail(int lines = 80) => _host?.LogTail(lines) ?? "(the host did not start)";

    public async ValueTask InitializeAsync()
    {
        _host = await SiloProcess.StartAsync(Settings);
        OnReady(_host.Http);
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }

    /// <inheritdoc cref="SiloProcess.FreePorts"/>
    internal static int[] FreePorts(int count) => SiloProcess.FreePorts(count);

    /// <inheritdoc cref="SiloProcess.DotnetHost"/>
    internal static string DotnetHost() => SiloProcess.DotnetHost();
}
