using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Hosting.Kubernetes;

namespace Quota.Server.Hosting;

/// <summary>
/// The pod a silo runs in, from the variables Kubernetes' downward API sets and Orleans' Kubernetes hosting reads
/// (<c>POD_NAME</c>, <c>POD_NAMESPACE</c>, <c>POD_IP</c>; deploy/k8s sets them from <c>metadata.name</c>,
/// <c>metadata.namespace</c> and <c>status.podIP</c>).
/// </summary>
/// <param name="Name">The pod's name: the silo's name in the membership table.</param>
/// <param name="Namespace">The pod's namespace: where the silo looks for its own pod and its peers' pods.</param>
/// <param name="Address">The pod's IP address: the address the silo advertises to other silos and clients.</param>
public sealed record PodEnvironment(string Name, string Namespace, IPAddress Address)
{
    /// <summary>The pod's name (<c>fieldRef: metadata.name</c>).</summary>
    public const string NameVariable = KubernetesHostingOptions.PodNameEnvironmentVariable;

    /// <summary>The pod's namespace (<c>fieldRef: metadata.namespace</c>).</summary>
    public const string NamespaceVariable = KubernetesHostingOptions.PodNamespaceEnvironmentVariable;

    /// <summary>The pod's IP address (<c>fieldRef: status.podIP</c>).</summary>
    public const string AddressVariable = KubernetesHostingOptions.PodIPEnvironmentVariable;

    /// <summary>The three variables, in the order problems name them.</summary>
    public static readonly IReadOnlyList<string> Variables = [NameVariable, NamespaceVariable, AddressVariable];

    /// <summary>
    /// The pod from <paramref name="variable"/> (the process environment): null when none of the three variables is
    /// set (not in a pod); a problem for each one missing or unusable when only some are set, so a half-written
    /// manifest is refused at start instead of advertising a wrong address.
    /// </summary>
    public static PodEnvironment? Read(Func<string, string?> variable, List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(variable);
        ArgumentNullException.ThrowIfNull(problems);
        var values = Variables.ToDictionary(name => name, name => variable(name) is { Length: > 0 } value && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null);
        if (values.Values.All(value => value is null))
        {
            return null;
        }

        var before = problems.Count;
        var present = values.Where(v => v.Value is not null).Select(v => v.Key).ToList();
        foreach (var (name, value) in values)
        {
            if (value is null)
            {
                problems.Add(
                    $"{name} is not set, but {string.Join(" and ", present)} {(present.Count == 1 ? "is" : "are")}: in a pod set all of "
                    + $"{string.Join(", ", Variables)} from the downward API (metadata.name, metadata.namespace, status.podIP; deploy/k8s/base does), outside one set none.");
            }
        }

        IPAddress? address = null;
        if (values[AddressVariable] is { } text && !IPAddress.TryParse(text, out address))
        {
            problems.Add($"{AddressVariable} is '{text}', which is not an IP address; set it from the downward API (fieldRef: status.podIP).");
        }

        return problems.Count == before ? new PodEnvironment(values[NameVariable]!, values[NamespaceVariable]!, address!) : null;
    }
}

/// <summary>
/// Pod mode: Orleans' Kubernetes hosting (<c>Microsoft.Orleans.Hosting.Kubernetes</c>) on a PostgreSQL silo in a pod.
/// The silo's name is the pod's name (the package) and it advertises the pod's IP (<see cref="PostgresHosting.Configure"/>,
/// unless <c>Quota:Cluster:AdvertisedAddress</c> is set); its silo and gateway ports listen on every interface (the
/// package, unless <c>Quota:Cluster:ListenAddress</c> is set). The
/// package's cluster agent (it labels the pod <c>orleans/serviceId</c> and <c>orleans/clusterId</c>, and declares a silo
/// dead as soon as its pod is deleted) runs beside the silo, never in its way: see <see cref="KubernetesAgentGuard"/>.
/// Membership stays in PostgreSQL; the package is not a clustering provider.
/// </summary>
internal static class KubernetesHosting
{
    /// <summary>
    /// Adds Orleans' Kubernetes hosting. Call before <see cref="PostgresHosting.Configure"/>: its cluster options are
    /// configured after the package's, so <c>Quota:Cluster:ClusterId</c>/<c>ServiceId</c> win over the package's
    /// <c>ORLEANS_CLUSTER_ID</c>/<c>ORLEANS_SERVICE_ID</c> and one setting names the cluster.
    /// </summary>
    public static void Configure(ISiloBuilder silo)
    {
        silo.UseKubernetesHosting();

        // The package registers its agent as a lifecycle participant that must finish before the silo is active: without
        // a reachable API server (or with a Role missing a verb) the silo would never start. Swap it for the guard.
        var agent = silo.Services.Single(d => d.ServiceType == typeof(ILifecycleParticipant<ISiloLifecycle>) && d.ImplementationType == typeof(KubernetesClusterAgent));
        silo.Services.Remove(agent);
        silo.Services.AddSingleton<KubernetesClusterAgent>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, KubernetesAgentGuard>();
    }
}

/// <summary>
/// Runs Orleans' Kubernetes cluster agent once the silo is active, in the background, and keeps its failures away from
/// the silo: an agent that cannot be created (no in-cluster configuration: not in a pod, or no service account token)
/// or cannot reach the API server within its retries is logged as an error and the silo goes on without it.
/// </summary>
/// <remarks>
/// Why: the agent only speeds things up. Membership is in PostgreSQL, so a silo whose pod was deleted is still declared
/// dead by Orleans' own probes, only later; a silo that refused to start because the API server was briefly unreachable
/// would cost capacity for nothing. The agent's start loops without pause while the API server answers 403 (a Role
/// missing a verb), so it is cancelled after <see cref="StartDeadline"/>.
/// </remarks>
internal sealed partial class KubernetesAgentGuard(IServiceProvider services, ILogger<KubernetesAgentGuard> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    /// <summary>How long the agent may take to label its pod and reconcile the pods with the membership table.</summary>
    public static readonly TimeSpan StartDeadline = TimeSpan.FromMinutes(2);

    private readonly CancellationTokenSource _stopping = new();
    private ILifecycleObserver? _agent;
    private Task _run = Task.CompletedTask;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(KubernetesAgentGuard), ServiceLifecycleStage.Active, OnStartAsync, OnStopAsync);

    private Task OnStartAsync(CancellationToken cancellationToken)
    {
        _run = Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task RunAsync()
    {
        ILifecycleObserver agent;
        try
        {
            var captured = new CapturedLifecycle();
            services.GetRequiredService<KubernetesClusterAgent>().Participate(captured);
            agent = captured.Observer ?? throw new InvalidOperationException("The Kubernetes cluster agent did not subscribe to the silo lifecycle.");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogAgentUnavailable(logger, e.GetType().Name, e.Message, e);
            return;
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        deadline.CancelAfter(StartDeadline);
        try
        {
            await agent.OnStart(deadline.Token);
            if (deadline.IsCancellationRequested && !_stopping.IsCancellationRequested)
            {
                // Its start loop ends without an exception when cancelled while the API server answers 403, and then
                // starts watching anyway: stop that, it would only repeat the 403 every few seconds.
                await agent.OnStop(CancellationToken.None);
                LogAgentGaveUp(logger, StartDeadline);
                return;
            }

            _agent = agent;
            LogAgentStarted(logger);
        }
        catch (Exception e) when (!_stopping.IsCancellationRequested && e is not OutOfMemoryException)
        {
            LogAgentFailed(logger, e.GetType().Name, e);
        }
        catch (OperationCanceledException)
        {
            // The silo is stopping.
        }
    }

    private async Task OnStopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _run.WaitAsync(cancellationToken);
        if (_agent is { } agent)
        {
            await agent.OnStop(cancellationToken);
        }

        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Kubernetes cluster agent started: the pod carries the orleans/serviceId and orleans/clusterId labels, and a deleted pod's silo is declared dead at once")]
    private static partial void LogAgentStarted(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "Kubernetes cluster agent unavailable ({ErrorType}: {Reason}); the silo runs without it: membership stays in PostgreSQL, and a silo whose pod is deleted is declared dead by Orleans' probes instead of at once")]
    private static partial void LogAgentUnavailable(ILogger logger, string errorType, string reason, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Kubernetes cluster agent did not finish starting within {Deadline}; the silo runs without it. Check that the pod's Role grants get, list, watch and patch on pods (deploy/k8s/base/rbac.yaml)")]
    private static partial void LogAgentGaveUp(ILogger logger, TimeSpan deadline);

    [LoggerMessage(Level = LogLevel.Error, Message = "Kubernetes cluster agent could not reach the API server ({ErrorType}); the silo runs without it. Check the pod's service account and that its Role grants get, list, watch and patch on pods (deploy/k8s/base/rbac.yaml)")]
    private static partial void LogAgentFailed(ILogger logger, string errorType, Exception exception);

    /// <summary>Takes the one subscription the agent makes, so the guard decides when and how it runs.</summary>
    private sealed class CapturedLifecycle : ISiloLifecycle
    {
        public ILifecycleObserver? Observer { get; private set; }

        public int HighestCompletedStage => ServiceLifecycleStage.Active;

        public int LowestStoppedStage => int.MaxValue;

        public IDisposable Subscribe(string observerName, int stage, ILifecycleObserver observer)
        {
            Observer = observer;
            return new NoSubscription();
        }

        private sealed class NoSubscription : IDisposable
        {
            public void Dispose()
            {
            }
        }
    }
}

/// <summary>How this silo found its place: the PostgreSQL mode or not, and the pod it runs in when pod mode applies.</summary>
/// <param name="Postgres">Whether the silo runs in the PostgreSQL mode (clustering in the database).</param>
/// <param name="Pod">The pod, when the silo runs in one in the PostgreSQL mode (pod mode); otherwise null.</param>
/// <param name="PodIgnored">Whether the pod variables are set but the embedded default ignores them.</param>
internal sealed record SiloPlacement(bool Postgres, PodEnvironment? Pod, bool PodIgnored)
{
    /// <summary>
    /// Whether the silo advertises a loopback address while its ports listen on every interface: other machines' silos
    /// and clients would be told to dial themselves. Outside a pod in the PostgreSQL mode only (a pod advertises its IP).
    /// </summary>
    public static bool AdvertisesLoopbackToEveryInterface(QuotaClusterOptions cluster) =>
        IPAddress.TryParse(cluster.AdvertisedAddress, out var advertised) && IPAddress.IsLoopback(advertised)
        && cluster.ListenAddress is { Length: > 0 } listen && IPAddress.TryParse(listen, out var bound)
        && (bound.Equals(IPAddress.Any) || bound.Equals(IPAddress.IPv6Any));
}
