namespace Quota.Client;

/// <summary>How a client finds the cluster's gateways (<c>Quota:Client:Clustering</c>).</summary>
public enum QuotaClientClustering
{
    /// <summary>The gateways listed in <see cref="QuotaClientOptions.Gateways"/>, resolved once at start (the embedded default).</summary>
    Static,

    /// <summary>
    /// The cluster's membership table in PostgreSQL (<see cref="QuotaClientOptions.ConnectionString"/>): every active silo
    /// is a gateway, re-read every <see cref="QuotaClientOptions.GatewayListRefreshPeriod"/>, so silos that join receive
    /// the client's calls and silos that leave are dropped.
    /// </summary>
    Postgres,
}

/// <summary>Where the cluster is and how to reach it; bound from the <c>Quota:Client</c> configuration section.</summary>
public sealed class QuotaClientOptions
{
    /// <summary>The configuration section the client's options are read from: <c>Quota:Client</c>.</summary>
    public const string SectionName = "Quota:Client";

    /// <summary>The gateway used when none is given: the embedded silo's, <c>127.0.0.1:30000</c>.</summary>
    public const string DefaultGateway = "127.0.0.1:30000";

    /// <summary>
    /// How gateways are found: <see cref="QuotaClientClustering.Static"/> (<see cref="Gateways"/>) or
    /// <see cref="QuotaClientClustering.Postgres"/> (the membership table the silos of the PostgreSQL mode write).
    /// Default: static.
    /// </summary>
    public QuotaClientClustering Clustering { get; set; } = QuotaClientClustering.Static;

    /// <summary>
    /// Silo gateways as <c>host:port</c> (<c>Quota:Client:Gateways:0</c>, <c>:1</c>, ...), for static clustering. A host
    /// name stands for every address it resolves to when the client starts. Empty (the default): <see cref="DefaultGateway"/>.
    /// </summary>
    public IList<string> Gateways { get; } = [];

    /// <summary>
    /// The Npgsql connection string of the silos' database, for PostgreSQL clustering (the client only reads the membership
    /// table). Read from <c>ConnectionStrings:Quota</c>, as the silos do; <c>Quota:Client:ConnectionString</c> overrides it.
    /// Default: none. Never logged or put in an error message.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// How often PostgreSQL clustering re-reads the membership table for gateways: a silo that joins receives calls from
    /// this client at most this long after it is active. Default: 10 seconds (Orleans' own default is a minute), one
    /// small query per client each time. A gateway that goes away is dropped when its connection fails, sooner than this.
    /// </summary>
    public TimeSpan GatewayListRefreshPeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The cluster id. Default: <c>quota</c> (as the silo's <c>Quota:Cluster:ClusterId</c>).</summary>
    public string ClusterId { get; set; } = "quota";

    /// <summary>The service id. Default: <c>quota</c> (as the silo's <c>Quota:Cluster:ServiceId</c>).</summary>
    public string ServiceId { get; set; } = "quota";

    /// <summary>How long a call may take, waits included. Default: 30 seconds; keep it above the silo's maximum wait.</summary>
    public TimeSpan ResponseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the client waits for an answer beyond the wait a request asks for (<c>maxWaitMs</c>) before it stops
    /// waiting and throws <see cref="QuotaUnavailableException"/> (<see cref="QuotaUnavailableException.MayHaveBeenDecided"/>
    /// true). Default: 10 seconds, at most <see cref="ResponseTimeout"/>. A decision takes milliseconds; this bounds the
    /// calls Orleans itself would leave waiting for the whole response timeout: those in flight through a gateway that was
    /// killed (an Orleans client fails them only at its response timeout, see docs/operations.md, "Failover").
    /// </summary>
    public TimeSpan AnswerTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Decisions in flight above which decisions naming one user or one resource, and not waiting, are sent in
    /// batches: one message to a coordinator grain per batch instead of one per decision, formed from whatever is queued
    /// when the previous send has gone (no timer, no added delay). Default: 8. 0 batches every such decision; null sends
    /// each on its own. Decisions are the same either way; under load a batch costs the client and the silo far less
    /// CPU per decision (docs/benchmarks.md), while a decision on its own has one hop fewer.
    /// </summary>
    public int? BatchAbove { get; set; } = 8;
}
