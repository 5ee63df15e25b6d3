using Quota.Abstractions;

namespace Quota.Client;

/// <summary>
/// Asks a Quota cluster for decisions. Denials are values (<see cref="AcquireResult.Allowed"/> false), never
/// exceptions. A cluster that cannot answer now (a silo failing over, no gateway reachable, no answer in time) throws
/// <see cref="QuotaUnavailableException"/>, which a retry after its <see cref="QuotaUnavailableException.RetryAfter"/>
/// is expected to survive; a cancelled call throws <see cref="OperationCanceledException"/>.
/// </summary>
public interface IQuotaClient
{
    /// <summary>
    /// Decides a request across every subject it names, all or nothing. With <see cref="AcquireRequest.MaxWaitMs"/>
    /// the call waits for capacity; cancelling <paramref name="cancellationToken"/> gives up the place in the queue.
    /// </summary>
    Task<AcquireResult> AcquireAsync(AcquireRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Decides a request already validated where it entered (<see cref="RequestRules.TryValidate"/>, e.g. by an HTTP
    /// front door that answers every problem at once): it is not checked again.
    /// </summary>
    Task<AcquireResult> AcquireAsync(ValidatedAcquire request, CancellationToken cancellationToken = default);

    /// <summary>Settles a reservation with its actual cost: refunds the difference or takes the top-up.</summary>
    Task<LeaseOutcome> SettleAsync(string leaseId, long actualCost, CancellationToken cancellationToken = default);

    /// <summary>Releases a concurrency lease (and ends a reservation keeping its estimate).</summary>
    Task<LeaseOutcome> ReleaseAsync(string leaseId, CancellationToken cancellationToken = default);

    /// <summary>
    /// A subject's usage now. For a key, <paramref name="id"/> is its key id, never the raw key. An id that breaks the
    /// name rule (<see cref="RequestRules.IsName"/>, e.g. whitespace only) is answered, without a call, with the
    /// problem the HTTP front door answers (<see cref="UsageReport.Problem"/>, field <c>id</c>).
    /// </summary>
    Task<UsageReport> GetUsageAsync(SubjectKind kind, string id, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reports what an upstream answered on a token Quota chose (its circuit breaker counts status 0 and 5xx as
    /// failures). Answers the breaker's state, or null when the token is not configured (names that break the name
    /// rule, <see cref="RequestRules.IsName"/>, never are: they are answered null without a call).
    /// </summary>
    Task<TokenHealth?> ReportAsync(string upstream, string token, UpstreamFeedback feedback, CancellationToken cancellationToken = default);

    /// <summary>
    /// An upstream's allocation now (capacity, reserves, each tenant's lease, each token's use and health); null when it
    /// is not configured (a name that breaks the name rule, <see cref="RequestRules.IsName"/>, never is: answered null without a call).
    /// </summary>
    Task<AllocationReport?> GetAllocationAsync(string upstream, CancellationToken cancellationToken = default);

    /// <summary>The queue named <paramref name="name"/> (defined through the admin API or <c>apply</c>); no call is made until it is used.</summary>
    IQuotaQueue Queue(string name);
}

/// <summary>The <see cref="IQuotaClient"/> over any Orleans grain factory: a cluster client, or a silo's own.</summary>
/// <remarks>
/// <para>
/// A request naming one user or one resource goes straight to that subject's grain: one hop, as fast as a bare
/// grain call. Anything else (a key, several subjects, a tenant or upstream) goes through a coordinator grain in the
/// silo, which hashes keys with the silo's pepper, chooses tokens, and makes the decision all-or-nothing. Settling,
/// releasing and usage go straight to the subjects.
/// </para>
/// <para>
/// Given a batch threshold (<see cref="QuotaClientOptions.BatchAbove"/>, on for the client
/// <c>AddQuotaClient</c> adds), single-subject decisions that do not
/// wait go in batches, one message per batch to a coordinator, while more than that many are in flight: under load
/// the per-message cost of Orleans is paid once per batch instead of once per decision. Decisions are the same either
/// way. A silo's own client (the HTTP front door) calls grains in its own process and does not batch.
/// </para>
/// <para>
/// An Orleans client is inside the cluster's trust boundary: it may ask for a token's secret
/// (<see cref="AcquireRequest.IncludeSecret"/>) and read allocations. The HTTP front door limits both to admin-scoped
/// callers.
/// </para>
/// </remarks>
public sealed class QuotaClient : IQuotaClient
{
    private readonly IGrainFactory _grains;
    private readonly DecisionBatcher? _batcher;
    private readonly TimeSpan? _answerTimeout;

    // Made once, on first use: Orleans resolves a grain interface by reflection on every GetGrain (see DecisionResults.Grain).
    private IDecisionGrain[]? _coordinators;

    /// <summary>A client over <paramref name="grains"/>.</summary>
    /// <param name="grains">A cluster client, or a silo's own grain factory.</param>
    /// <param name="batchAbove">
    /// Decisions in flight above which single-subject decisions that do not wait are sent in batches; null (the
    /// default) sends each on its own. See <see cref="QuotaClientOptions.BatchAbove"/>.
    /// </param>
    /// <param name="answerTimeout">
    /// How long to wait for an answer beyond a request's own wait before throwing <see cref="QuotaUnavailableException"/>;
    /// null (the default, as inside a silo) leaves calls to Orleans' response timeout. See <see cref="QuotaClientOptions.AnswerTimeout"/>.
    /// </param>
    public QuotaClient(IGrainFactory grains, int? batchAbove = null, TimeSpan? answerTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(grains);
        if (answerTimeout is { } timeout)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero, nameof(answerTimeout));
        }

        _grains = grains;
        _answerTimeout = answerTimeout;
        _batcher = batchAbove is { } threshold ? new DecisionBatcher(_grains, Coordinator, threshold) : null;
    }

    /// <summary>Batches sent and decisions sent in them so far; zeros without batching.</summary>
    internal (long Batches, long Decisions) BatchCounts => _batcher is { } b ? (b.Batches, b.Batched) : (0, 0);

    /// <inheritdoc />
    public Task<AcquireResult> AcquireAsync(AcquireRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);

        // The client is where a request enters from an app: validated here, once (the silo's ceiling on waiting, which
        // the client does not know, is applied where the silo is reached).
        return RequestRules.TryValidate(request, maxWait: null, out var validated, out var problems)
            ? AcquireAsync(validated, cancellationToken)
            : Task.FromResult(DecisionResults.Invalid(problems[0]));
    }

    /// <inheritdoc />
    public async Task<AcquireResult> AcquireAsync(ValidatedAcquire validated, CancellationToken cancellationToken = default)
    {
        var request = validated.Request;
        if (SingleSubject(request) is not { } single)
        {
            return await Guarded(() => Coordinator().AcquireAsync(validated, cancellationToken), Deadline(request.MaxWaitMs), cancellationToken);
        }

        // One subject: it files a lease under a nonce of its own when the grant must be settled or released.
        var acquire = new SubjectAcquire { Cost = request.Cost, Priority = request.Priority, MaxWaitMs = request.MaxWaitMs, Reserve = request.Reserve };
        var decision = await Guarded(
            () => _batcher is { } batcher
                ? batcher.AcquireAsync(single.Kind, single.Id, acquire, cancellationToken)
                : DecisionResults.Grain(_grains, single.Kind, single.Id).AcquireAsync(acquire, cancellationToken),
            Deadline(request.MaxWaitMs),
            cancellationToken);
        SubjectAnswer[] answers = [new(single.Kind, single.Id, single.Field, decision)];
        return decision.Allowed
            ? DecisionResults.Allowed(answers, leaseNonce: null)
            : DecisionResults.Rejected(request.Cost, answers) ?? DecisionResults.Denied(answers);
    }

    /// <inheritdoc />
    public Task<TokenHealth?> ReportAsync(string upstream, string token, UpstreamFeedback feedback, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        ArgumentNullException.ThrowIfNull(token);
        ArgumentNullException.ThrowIfNull(feedback);
        if (!RequestRules.IsName(upstream) || !RequestRules.IsName(token))
        {
            return Task.FromResult<TokenHealth?>(null);
        }

        return Guarded(() => _grains.GetGrain<IUpstreamTokenGrain>(TokenKeys.Key(upstream, token)).ReportAsync(feedback).WaitAsync(cancellationToken), Deadline(0), cancellationToken);
    }

    /// <inheritdoc />
    public Task<AllocationReport?> GetAllocationAsync(string upstream, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        if (!RequestRules.IsName(upstream))
        {
            return Task.FromResult<AllocationReport?>(null);
        }

        return Guarded(() => _grains.GetGrain<IPoolGrain>(upstream).GetAllocationAsync().WaitAsync(cancellationToken), Deadline(0), cancellationToken);
    }

    /// <inheritdoc />
    public Task<LeaseOutcome> SettleAsync(string leaseId, long actualCost, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(leaseId);
        ArgumentOutOfRangeException.ThrowIfNegative(actualCost);
        return OnHoldersAsync(leaseId, (grain, nonce) => grain.SettleAsync(nonce, actualCost), cancellationToken);
    }

    /// <inheritdoc />
    public Task<LeaseOutcome> ReleaseAsync(string leaseId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(leaseId);
        return OnHoldersAsync(leaseId, (grain, nonce) => grain.ReleaseAsync(nonce), cancellationToken);
    }

    /// <inheritdoc />
    public Task<UsageReport> GetUsageAsync(SubjectKind kind, string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);

        // As the HTTP front door: a name it would refuse with 400 is answered here with the same problem, not thrown.
        var problems = new List<FieldProblem>(0);
        RequestRules.CheckName(problems, "id", id);
        if (problems.Count > 0)
        {
            return Task.FromResult(new UsageReport { Subject = SubjectNames.Label(kind, id), Problem = problems[0] });
        }

        return Guarded(() => DecisionResults.Grain(_grains, kind, id).GetUsageAsync().WaitAsync(cancellationToken), Deadline(0), cancellationToken);
    }

    /// <inheritdoc />
    public IQuotaQueue Queue(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new QuotaQueue(_grains, name, _answerTimeout);
    }

    /// <summary>Delays before the retries of a call the cluster refused (about a second in all).</summary>
    private static readonly TimeSpan[] RetryDelays = [TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(600)];

    /// <summary>
    /// The call's answer. A call the cluster refused (its gateway or the grain's silo is going away or gone, a gateway
    /// could not be reached) is made again, up to three times within about a second: while silos join and leave,
    /// activations and directory entries move and a second attempt finds the new place (measured: a rolling restart
    /// otherwise fails a few calls in ten thousand). What is still failing then, and a response timeout, is thrown as
    /// <see cref="QuotaUnavailableException"/>.
    /// </summary>
    /// <remarks>
    /// Only refusals are retried (<see cref="QuotaUnavailableException.IsRefusal"/>): the call was not processed where it
    /// was sent. A silo that died (<see cref="Orleans.Runtime.SiloUnavailableException"/>) may have decided the call before
    /// dying, so that is thrown at once: a hidden retry could take a second permit outside the crash bound's accounting.
    /// An attempt not answered by <paramref name="deadline"/> is not waited for further (it may have been decided): an
    /// Orleans client leaves a call sent through a gateway that was killed waiting for its whole response timeout.
    /// </remarks>
    internal static async Task<T> Guarded<T>(Func<Task<T>> call, TimeSpan? deadline, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var answer = call();
                return deadline is { } limit && !answer.IsCompleted ? await AnsweredWithin(answer, limit) : await answer;
            }
            catch (Exception e) when (attempt < RetryDelays.Length && !cancellationToken.IsCancellationRequested && QuotaUnavailableException.IsRefusal(e))
            {
                await Task.Delay(RetryDelays[attempt], cancellationToken);
            }
            catch (Exception e) when (QuotaUnavailableException.From(e) is { } unavailable)
            {
                throw unavailable;
            }
        }
    }

    private static async Task<T> AnsweredWithin<T>(Task<T> answer, TimeSpan limit)
    {
        // A shared deadline (within CallDeadlines.Resolution), not a timer per call: measured 8-12% of the throughput.
        var deadline = CallDeadlines.Shared.After(limit);
        try
        {
            return await answer.WaitAsync(deadline);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !answer.IsCompleted)
        {
            throw new TimeoutException(
                $"No answer within {limit.TotalSeconds:0.###} s (the request's wait plus Quota:Client:AnswerTimeout); the call was left to Orleans' response timeout.");
        }
    }

    /// <summary>How long an attempt may go unanswered: the request's own wait plus the answer timeout; null without one.</summary>
    private TimeSpan? Deadline(long maxWaitMs) => _answerTimeout is { } timeout ? TimeSpan.FromMilliseconds(maxWaitMs) + timeout : null;

    private IDecisionGrain Coordinator() =>
        (_coordinators ??= [.. Enumerable.Range(0, IDecisionGrain.Keys).Select(k => _grains.GetGrain<IDecisionGrain>(k))])[Random.Shared.Next(IDecisionGrain.Keys)];

    private static (SubjectKind Kind, string Id, string Field)? SingleSubject(AcquireRequest request)
    {
        if (request.ApiKey is not null || request.Tenant is not null || request.Upstream is not null)
        {
            return null;
        }

        var resources = request.Resources ?? [];
        return (request.User, resources.Length) switch
        {
            ({ } user, 0) => (SubjectKind.User, user, "user"),
            (null, 1) => (SubjectKind.Resource, resources[0], "resources[0]"),
            _ => null,
        };
    }

    private async Task<LeaseOutcome> OnHoldersAsync(string leaseId, Func<ISubjectGrain, string, Task<LeaseOutcome>> action, CancellationToken cancellationToken)
    {
        if (!LeaseIds.TryDecode(leaseId, out var nonce, out var holders))
        {
            return LeaseOutcome.Invalid;
        }

        var outcomes = await Guarded(() => Task.WhenAll(holders.Select(h => action(DecisionResults.Grain(_grains, h.Kind, h.Id), nonce))).WaitAsync(cancellationToken), Deadline(0), cancellationToken);
        return outcomes.Contains(LeaseOutcome.Done) ? LeaseOutcome.Done : LeaseOutcome.NotFound;
    }
}
