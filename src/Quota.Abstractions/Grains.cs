using Orleans.Concurrency;

namespace Quota.Abstractions;

/// <summary>What one subject is asked: take <see cref="Cost"/> on every one of its policies, or nothing.</summary>
[GenerateSerializer, Immutable, Alias("quota.SubjectAcquire")]
public sealed record SubjectAcquire
{
    /// <summary>Permits; 0 peeks.</summary>
    [Id(0)] public long Cost { get; init; } = 1;

    /// <summary>Order among waiters.</summary>
    [Id(1)] public Priority Priority { get; init; } = Priority.Normal;

    /// <summary>Milliseconds to wait in this subject's queue; 0 answers at once.</summary>
    [Id(2)] public long MaxWaitMs { get; init; }

    /// <summary>
    /// The request's lease nonce (32 hex digits) to file the grant under when it must be settled or released later; null:
    /// the subject makes one of its own. Not a lease id: the caller's lease id is this nonce plus the holders' names
    /// (<see cref="LeaseIds"/>).
    /// </summary>
    [Id(3)] public string? LeaseNonce { get; init; }

    /// <summary>Whether the grant is a reservation to settle.</summary>
    [Id(4)] public bool Reserve { get; init; }

    /// <summary>Whether the caller needs the grants back to refund them (several subjects in one request).</summary>
    [Id(5)] public bool ReturnGrants { get; init; }

    /// <summary>Upstream tokens only: answer the decrypted secret with a grant (admin-scoped callers).</summary>
    [Id(6)] public bool IncludeSecret { get; init; }
}

/// <summary>One policy's state as a subject reports it to its caller; the caller names the subject.</summary>
/// <param name="Policy">The policy's name.</param>
/// <param name="Algorithm">The policy's <see cref="Quota.Algorithms.Limiting.AlgorithmKind"/>.</param>
/// <param name="Limit">The capacity (burst for a token bucket).</param>
/// <param name="Remaining">Permits left.</param>
/// <param name="WindowSeconds">Window or current period in seconds; null for concurrency.</param>
/// <param name="ResetAfterMs">Milliseconds until full capacity.</param>
/// <param name="Refill">For a token bucket whose burst is not its limit: the permits it refills per window, its steady
/// rate (<see cref="Limit"/> is then the burst); null otherwise, where <see cref="Limit"/> per window is the rate.</param>
[GenerateSerializer, Immutable, Alias("quota.PolicyReading")]
public sealed record PolicyReading(
    [property: Id(0)] string Policy,
    [property: Id(1)] byte Algorithm,
    [property: Id(2)] long Limit,
    [property: Id(3)] long Remaining,
    [property: Id(4)] long? WindowSeconds,
    [property: Id(5)] long ResetAfterMs,
    [property: Id(6)] long? Refill = null)
{
    /// <summary>The reading as an answer's policy state, for the subject labelled <paramref name="subject"/>.</summary>
    public PolicyState ToState(string subject) => new()
    {
        Subject = subject,
        Policy = Policy,
        Algorithm = (Quota.Algorithms.Limiting.AlgorithmKind)Algorithm,
        Limit = Limit,
        Remaining = Remaining,
        WindowSeconds = WindowSeconds,
        ResetAfterMs = ResetAfterMs,
        Refill = Refill,
    };
}

/// <summary>One policy's grant within a subject, enough to refund it exactly.</summary>
/// <param name="Policy">The policy's name.</param>
/// <param name="Cost">Permits taken.</param>
/// <param name="AtTicks">When they were taken (UTC ticks).</param>
/// <param name="LeaseNumber">The concurrency lease's number within the policy's limiter; 0 for window-based policies.</param>
[GenerateSerializer, Immutable, Alias("quota.PolicyGrant")]
public sealed record PolicyGrant(
    [property: Id(0)] string Policy,
    [property: Id(1)] long Cost,
    [property: Id(2)] long AtTicks,
    [property: Id(3)] long LeaseNumber);

/// <summary>A subject's answer.</summary>
[GenerateSerializer, Immutable, Alias("quota.SubjectDecision")]
public sealed record SubjectDecision
{
    /// <summary>Whether every policy of the subject admitted the request.</summary>
    [Id(0)] public bool Allowed { get; init; }

    /// <summary>Allowed, Denied, CostExceedsLimit or UnknownSubject.</summary>
    [Id(1)] public DecisionOutcome Outcome { get; init; }

    /// <summary>The denying policy's name when <see cref="Cause"/> is <see cref="DenialCause.Policy"/>; null otherwise.</summary>
    [Id(3)] public string? LimitedBy { get; init; }

    /// <summary>Exact time until the same request would be admitted by every policy of this subject; <see cref="TimeSpan.MaxValue"/> when never.</summary>
    [Id(4)] public TimeSpan RetryAfter { get; init; }

    /// <summary>Every policy's state after the decision.</summary>
    [Id(5)] public PolicyReading[] Policies { get; init; } = [];

    /// <summary>What was taken, when asked for (<see cref="SubjectAcquire.ReturnGrants"/>), to refund if another subject denies.</summary>
    [Id(6)] public PolicyGrant[] Grants { get; init; } = [];

    /// <summary>Whether the subject filed the grant under the request's lease (reservation or concurrency).</summary>
    [Id(7)] public bool Leased { get; init; }

    /// <summary>The owning user of an API key.</summary>
    [Id(8)] public string? Owner { get; init; }

    /// <summary>
    /// For <see cref="DecisionOutcome.Invalid"/>: what is wrong with the request. For <see cref="DecisionOutcome.Overloaded"/>,
    /// when set: why the subject did not decide (its detail is what the caller is told; the field is the caller's to name).
    /// </summary>
    [Id(9)] public FieldProblem? Problem { get; init; }

    /// <summary>The lease nonce the grant is filed under when <see cref="Leased"/>: the request's, or one the subject made.</summary>
    [Id(10)] public string? LeaseNonce { get; init; }

    /// <summary>Upstream tokens only: the decrypted secret, when asked for and granted.</summary>
    [Id(11)] public string? Secret { get; init; }

    /// <summary>Why the subject denied: a policy (<see cref="LimitedBy"/>) or something else; <see cref="DenialCause.None"/> when allowed.</summary>
    [Id(12)] public DenialCause Cause { get; init; }
}

/// <summary>One subject's decision within a batch (<see cref="IDecisionGrain.AcquireEachAsync"/>).</summary>
/// <param name="Kind">The subject's kind: a user or a resource (the subjects a client may ask directly).</param>
/// <param name="Id">The subject's id.</param>
/// <param name="Request">What it is asked; answered at once (no wait).</param>
[GenerateSerializer, Immutable, Alias("quota.SubjectCall")]
public sealed record SubjectCall(
    [property: Id(0)] SubjectKind Kind,
    [property: Id(1)] string Id,
    [property: Id(2)] SubjectAcquire Request);

/// <summary>
/// One call's answer within a batch: the subject's decision, or why the call failed (what a direct call to the subject
/// would have thrown).
/// </summary>
[GenerateSerializer, Immutable, Alias("quota.SubjectCallAnswer")]
public sealed record SubjectCallAnswer(
    [property: Id(0)] SubjectDecision? Decision,
    [property: Id(1)] Exception? Failure);

/// <summary>A subject's policies as configured now.</summary>
[GenerateSerializer, Immutable, Alias("quota.SubjectPolicies")]
public sealed record SubjectPolicies
{
    /// <summary>The subject's label.</summary>
    [Id(0)] public required string Subject { get; init; }

    /// <summary>Whether the subject exists (a key is registered, a resource configured or given policies).</summary>
    [Id(1)] public bool Known { get; init; }

    /// <summary>Whether the policies are the subject's own (set through the admin API) rather than the defaults.</summary>
    [Id(2)] public bool Own { get; init; }

    /// <summary>The policies in force.</summary>
    [Id(3)] public PolicySpec[] Policies { get; init; } = [];
}

/// <summary>A registered API key as the silo knows it: never the raw key.</summary>
[GenerateSerializer, Immutable, Alias("quota.ApiKeyInfo")]
public sealed record ApiKeyInfo
{
    /// <summary>The key's id: the hex HMAC-SHA256 of the raw key under the pepper.</summary>
    [Id(0)] public required string KeyId { get; init; }

    /// <summary>The user the key belongs to.</summary>
    [Id(1)] public required string Owner { get; init; }

    /// <summary>The key's own policies (its user's apply as well).</summary>
    [Id(2)] public PolicySpec[] Policies { get; init; } = [];
}

/// <summary>
/// A subject that holds limits: its policies' windows live in this grain's memory and it is their only clock.
/// </summary>
/// <remarks>
/// Array arguments of Quota's grain methods are marked <c>[Immutable]</c>: the grains only read them, callers never
/// change them after the call, and without the mark every grain reference Orleans makes for the interface would
/// build the arrays' copiers by reflection (Orleans 10.4), on every decision.
/// </remarks>
[Alias("quota.ISubjectGrain")]
public interface ISubjectGrain : IGrainWithStringKey
{
    /// <summary>Takes the cost on every policy or nothing; with a wait, queues by priority until granted or the deadline.</summary>
    [Alias("Acquire")]
    Task<SubjectDecision> AcquireAsync(SubjectAcquire request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Returns grants made by <see cref="AcquireAsync"/> (another subject of the request denied) and forgets their
    /// lease. Answers every policy's state after the refund, so a denial reports nothing consumed.
    /// </summary>
    [Alias("Refund")]
    Task<PolicyReading[]> RefundAsync([Immutable] PolicyGrant[] grants, string? leaseNonce);

    /// <summary>Settles the reservation filed under <paramref name="leaseNonce"/> with the actual cost and ends its concurrency permits.</summary>
    [Alias("Settle")]
    Task<LeaseOutcome> SettleAsync(string leaseNonce, long actualCost);

    /// <summary>Ends the lease filed under <paramref name="leaseNonce"/>: concurrency permits come back; a reservation keeps its estimate.</summary>
    [Alias("Release")]
    Task<LeaseOutcome> ReleaseAsync(string leaseNonce);

    /// <summary>Every policy's state now.</summary>
    [Alias("GetUsage")]
    Task<UsageReport> GetUsageAsync();

    /// <summary>The subject's policies now: its own when set, else the configured defaults.</summary>
    [Alias("GetPolicies")]
    Task<SubjectPolicies> GetPoliciesAsync();

    /// <summary>Replaces the subject's policies (null: back to the configured defaults), keeping current usage.</summary>
    /// <exception cref="ArgumentException">A policy is invalid; nothing changes.</exception>
    [Alias("SetPolicies")]
    Task SetPoliciesAsync([Immutable] PolicySpec[]? policies);
}

/// <summary>A user; keyed by user id.</summary>
[Alias("quota.IUserGrain")]
public interface IUserGrain : ISubjectGrain;

/// <summary>A configured resource or one instance of a pattern (<c>telegram:chat:-1001</c>); keyed by its name.</summary>
[Alias("quota.IResourceGrain")]
public interface IResourceGrain : ISubjectGrain;

/// <summary>An inbound API key; keyed by the key's peppered hash, never the raw key.</summary>
[Alias("quota.IApiKeyGrain")]
public interface IApiKeyGrain : ISubjectGrain
{
    /// <summary>Registers (or re-registers) the key for <paramref name="owner"/> with its own policies.</summary>
    [Alias("Register")]
    Task<ApiKeyInfo> RegisterAsync(string owner, [Immutable] PolicySpec[]? policies);

    /// <summary>The registration, or null when the key is not registered.</summary>
    [Alias("GetInfo")]
    Task<ApiKeyInfo?> GetInfoAsync();

    /// <summary>Forgets the registration; later requests with the key are unknown. False when it was not registered.</summary>
    [Alias("Revoke")]
    Task<bool> RevokeAsync();
}

/// <summary>
/// The front door inside the silo: combines the subjects a request names into one all-or-nothing decision.
/// Stateless and reentrant; callers spread over <see cref="Keys"/> activations, each placed on the silo that
/// first calls it.
/// </summary>
[Alias("quota.IDecisionGrain")]
public interface IDecisionGrain : IGrainWithIntegerKey
{
    /// <summary>How many coordinator keys callers spread over (0 to Keys - 1).</summary>
    const int Keys = 16;

    /// <summary>
    /// Decides a request across every subject it names. The request was validated where it entered; only the silo's
    /// ceiling on waiting is checked here.
    /// </summary>
    [Alias("Acquire")]
    Task<AcquireResult> AcquireAsync(ValidatedAcquire request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Asks each subject once, as a direct call would, and answers in the same order: a client's batch of
    /// single-subject decisions that do not wait, sent as one message. Each answer is independent of the others; a
    /// call naming anything but a user or a resource fails alone.
    /// </summary>
    [Alias("AcquireEach")]
    Task<SubjectCallAnswer[]> AcquireEachAsync([Immutable] SubjectCall[] calls);

    /// <summary>Registers a raw API key for a user; returns its key id. The raw key is hashed and dropped.</summary>
    [Alias("RegisterKey")]
    Task<ApiKeyInfo> RegisterKeyAsync(string rawKey, string owner, [Immutable] PolicySpec[]? policies);
}

/// <summary>
/// A grain that does nothing but answer: readiness checks use it to prove the silo can activate grains and
/// answer calls, and benchmarks use it as the cost of a bare grain call.
/// </summary>
[Alias("quota.IPingGrain")]
public interface IPingGrain : IGrainWithStringKey
{
    /// <summary>Answers at once with the value given.</summary>
    [Alias("Ping")]
    Task<long> PingAsync(long value);
}
