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
}

/// <summary>Where grain state and reminders live (<c>Quota:Storage</c>).</summary>
public sealed class QuotaStorageOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Storage";

    /// <summary><c>memory</c> (the embedded default: nothing to install, nothing survives a restart). Default: memory.</summary>
    public string Provider { get; set; } = "memory";
}

/// <summary>The HTTP front door (<c>Quota:Http</c>).</summary>
public sealed class QuotaHttpOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Quota:Http";

    /// <summary>The largest request body accepted, in bytes. Default: 16384.</summary>
    public int MaxBodyBytes { get; set; } = 16 * 1024;
}
