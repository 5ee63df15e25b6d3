namespace Quota.Samples.Worker;

/// <summary>What the sample does; bound from <c>Worker</c> (<c>--Worker:Duration=00:00:20</c>).</summary>
public sealed class WorkerOptions
{
    /// <summary>The configuration section: <c>Worker</c>.</summary>
    public const string SectionName = "Worker";

    /// <summary>
    /// The upstream's base address. Default: none, and the worker starts its own fake upstream on 127.0.0.1 (10
    /// requests per second per token, accepting the secrets in tenancy.yaml).
    /// </summary>
    public Uri? UpstreamUrl { get; set; }

    /// <summary>A silo's HTTP address to post tenancy.yaml to (<c>POST /v1/admin/apply</c>) before starting. Default: none.</summary>
    public Uri? Apply { get; set; }

    /// <summary>The admin token for <see cref="Apply"/>, when the silo has one. Default: none (a loopback silo needs none).</summary>
    public string? AdminToken { get; set; }

    /// <summary>The Quota upstream. Default: <c>fake</c>, as in tenancy.yaml.</summary>
    public string Upstream { get; set; } = "fake";

    /// <summary>The tenants calling it. Default: <c>acme</c> and <c>globex</c>, as in tenancy.yaml.</summary>
    public List<string> Tenants { get; set; } = [];

    /// <summary>Calls in flight per tenant. Default: 4.</summary>
    public int Concurrency { get; set; } = 4;

    /// <summary>How long to call before printing the summary and exiting. Default: 10 seconds.</summary>
    public TimeSpan Duration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a call waits in Quota's queue for a permit. Default: 5 seconds.</summary>
    public TimeSpan MaxWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// With the worker's own fake upstream: when to make it answer one request on token t2 with 429 and
    /// <c>Retry-After: 2</c>, to show Quota pausing that token and the worker recovering. Default: 4 seconds in; zero: never.
    /// </summary>
    public TimeSpan Inject429At { get; set; } = TimeSpan.FromSeconds(4);

    /// <summary>The HttpClient name for a tenant: <c>upstream-{tenant}</c>.</summary>
    public static string ClientName(string tenant) => $"upstream-{tenant}";

    /// <summary>Fills defaults and checks the options, reporting every problem at once.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public void Validate()
    {
        if (Tenants.Count == 0)
        {
            Tenants.AddRange(["acme", "globex"]);
        }

        var problems = new List<string>();
        if (Concurrency is < 1 or > 256)
        {
            problems.Add($"Worker:Concurrency must be 1 to 256 calls in flight per tenant (got {Concurrency}).");
        }

        if (Duration <= TimeSpan.Zero)
        {
            problems.Add($"Worker:Duration must be positive, e.g. 00:00:10 (got {Duration}).");
        }

        if (MaxWait < TimeSpan.Zero)
        {
            problems.Add($"Worker:MaxWait must be 00:00:00 or more (got {MaxWait}).");
        }

        foreach (var (name, uri) in new[] { ("UpstreamUrl", UpstreamUrl), ("Apply", Apply) })
        {
            if (uri is { IsAbsoluteUri: false })
            {
                problems.Add($"Worker:{name} must be an absolute http URL, e.g. http://127.0.0.1:8080 (got {uri}).");
            }
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException("The sample's options are invalid: " + string.Join(" ", problems));
        }
    }
}

/// <summary>The upstream's base address, known once the worker has started (its own fake upstream listens on a free port).</summary>
public sealed class UpstreamAddress
{
    /// <summary>The address; set before any call.</summary>
    public Uri Value { get; set; } = new("http://127.0.0.1/");
}
