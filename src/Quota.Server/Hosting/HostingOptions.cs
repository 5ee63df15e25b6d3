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
