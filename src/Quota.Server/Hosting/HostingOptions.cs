namespace Quota.Server.Hosting;

/// <summary>How the silo joins its cluster (<c>Quota:Cluster</c>).</summary>
public sealed class QuotaClusterOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Cluster";

    /// <summary>The cluster id; silos and clients must agree. Default: <c>quota</c>.</summary>
    public string ClusterId { get; set; } = "quota";

    /// <summary>The service id; stable across deployments (it keys persisted state). Default: <c>quota</c>.</summary>
    public string ServiceId { get; set; } = "quota";

    /// <summary>Silo-to-silo port. Default: 11111.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port Orleans clients connect to. Default: 30000.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// The address other silos and clients reach this silo at (PostgreSQL clustering only; the embedded default is
    /// loopback). Default: <c>127.0.0.1</c>. In a container set it to the container's own address.
    /// </summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// The address the silo and gateway ports bind to (PostgreSQL clustering only). Default: the advertised
    /// address. In a container, <c>0.0.0.0</c>.
    /// </summary>
    public string? ListenAddress { get; set; }
}

/// <summary>
/// How silos find out that one of them died (<c>Quota:Cluster:Membership</c>): Orleans' membership probes. A silo
/// probes <see cref="NumProbedSilos"/> others every <see cref="ProbeTimeout"/>; after <see cref="NumMissedProbesLimit"/>
/// probes in a row go unanswered it votes the silo dead, and <see cref="NumVotesForDeathDeclaration"/> votes declare it
/// dead. Until then, calls for the subjects the dead silo hosted fail over (HTTP <c>503</c> with <c>Retry-After</c>;
/// <c>QuotaUnavailableException</c> for the .NET client); after it, they activate on live silos.
/// </summary>
/// <remarks>
/// Detection takes about <see cref="ProbeTimeout"/> × <see cref="NumMissedProbesLimit"/> after a crash (measured in
/// docs/benchmarks.md). Shorter is not free: a silo declared dead while merely slow (a long GC pause, a starved machine)
/// is shut down by the cluster, which loses its in-memory windows and puts its calendar quotas under the crash bound.
/// The defaults halve Orleans' probe period (5 s) and keep its other settings: a silo must be unresponsive for 9 s,
/// longer than any thread-pool stall measured on the two-core benchmark machine, and confirmed by an indirect probe
/// through another silo, before it is voted out.
/// </remarks>
public sealed class QuotaMembershipOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Cluster:Membership";

    /// <summary>How often a silo probes each silo it watches, and how long it waits for the answer. Default: 3 seconds (Orleans: 5).</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Probes in a row that may go unanswered before the prober votes the silo dead. Default: 3 (as Orleans).</summary>
    public int NumMissedProbesLimit { get; set; } = 3;

    /// <summary>How many other silos each silo probes. Default: 3 (as Orleans).</summary>
    public int NumProbedSilos { get; set; } = 3;

    /// <summary>
    /// Votes that declare a silo dead (fewer when fewer silos are active). Default: 2 (as Orleans): one silo that cannot
    /// reach another is not enough to kill it. At most <see cref="NumProbedSilos"/>.
    /// </summary>
    public int NumVotesForDeathDeclaration { get; set; } = 2;
}

/// <summary>Where grain state and reminders live (<c>Quota:Storage</c>).</summary>
public sealed class QuotaStorageOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Storage";

    /// <summary>
    /// <c>memory</c> (the embedded default: nothing to install, nothing survives a restart) or <c>postgres</c>
    /// (clustering, grain state, reminders and usage history in the database named by
    /// <c>ConnectionStrings:Quota</c>). Default: memory.
    /// </summary>
    public string Provider { get; set; } = "memory";

    /// <summary>Whether the silo applies the schema's pending migrations at start (PostgreSQL). Default: true.</summary>
    public bool MigrateOnStart { get; set; } = true;
}

/// <summary>The HTTP front door (<c>Quota:Http</c>).</summary>
public sealed class QuotaHttpOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Http";

    /// <summary>The largest request body accepted, in bytes. Default: 16384.</summary>
    public int MaxBodyBytes { get; set; } = 16 * 1024;
}
