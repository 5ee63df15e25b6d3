using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Algorithms.Allocation;

namespace Quota.Grains.Tenancy;

/// <summary>
/// An upstream's shared pool; see <see cref="IPoolGrain"/>. Lends <c>capacity − reserves</c> as leases: each
/// tenant's fair share is weighted max-min fairness (<see cref="FairShare"/>) over the demands tenants reported within
/// the last lease lifetime, higher service classes first.
/// </summary>
/// <remarks>
/// <para><b>Never more than it has.</b> A tenant is granted at most its fair share and at most what the other
/// tenants' unexpired leases leave. When that is less than its share because others hold more than theirs, the pool
/// first lowers those others' leases (<see cref="ITenantClusterGrain.ReviseLeaseAsync"/>, which they apply before
/// answering) and counts a lowered lease only once acknowledged; a tenant that does not answer keeps its lease in the
/// count until it expires. So capacity moves to where demand is within one refresh of the tenant that asks.</para>
/// <para><b>Borrowing.</b> A tenant whose allowance runs out asks at once (<see cref="LeaseRequest.Borrowing"/>) with
/// what it needs now; the answer is planned by the same rule (<see cref="LendingPlan"/>), and tells what is left unlent
/// so tenants stop borrowing when nothing is. Before lending a borrower more than its guaranteed share
/// (<see cref="LendingPlan.Guarantees"/>), the pool asks each tenant that reported less demand than its own guarantee,
/// once per report, whether a request reached it since (<see cref="ITenantClusterGrain.IsActiveAsync"/>); one that did
/// counts with its guarantee until it reports again. Tenants bursting together so split what is unlent by weight
/// instead of the first to ask taking it all; a tenant bursting alone still gets everything unlent at once.</para>
/// <para><b>Learning.</b> Leases live only in this activation's memory. A new activation (the grain moved, its silo
/// died, it was collected) does not know what its predecessor lent, so until every lease its predecessor may have
/// granted has expired it only renews: a tenant gets at most what it reports holding (and its fair share), and a
/// tenant holding nothing gets nothing. How long that is comes from a time the pool persists before it answers any
/// lease that would outlive it ("leases may be outstanding until"), written ahead by two lease lifetimes so it costs
/// one write per lifetime; learning lasts until that time (plus a second for clocks that differ between silos), at
/// most one lease lifetime, and not at all on a cold start. With it the pool persists how much may be out (the most
/// it could lend while granting), so a pool that restarts with less to lend (a token removed meanwhile) counts what
/// tenants not yet heard from may hold, and renews nobody beyond what is left. From then on the count is complete
/// again.</para>
/// </remarks>
[GrainType("pool")]
public sealed partial class PoolGrain(
    [PersistentState("pool", Subjects.QuotaStorage.Name)] IPersistentState<PoolState> state,
    IOptions<TenancyOptions> options,
    QuotaTime clock,
    ILogger<PoolGrain> logger) : Grain, IPoolGrain, IPoolClusterGrain
{
    private static readonly TimeSpan ClockMargin = TimeSpan.FromSeconds(1);
    private readonly TenancyOptions _options = options.Value;
    private readonly TimeProvider _time = clock.Provider;
    private readonly Dictionary<string, Member> _members = new(StringComparer.Ordinal);
    private PoolSetup? _setup;
    private DateTimeOffset _learningUntil;
    private long _predecessorBound;
    private readonly long _epoch = Random.Shared.NextInt64(1, long.MaxValue);

    /// <summary>What shrunk pooled tokens admit per window now (<see cref="TokenLimitAsync"/>), by token id, and until when that holds.</summary>
    private readonly Dictionary<string, (long Usable, DateTimeOffset Until)> _tokenLimits = new(StringComparer.Ordinal);

    private long Lendable => _setup is null ? 0 : Math.Max(0, CapacityNow - _setup.Upstream.Reserved);

    /// <summary>The pooled tokens' capacity less what upstream 429s took from it (as last told, while that holds).</summary>
    private long CapacityNow
    {
        get
        {
            if (_setup is null)
            {
                return 0;
            }

            var now = _time.GetUtcNow();
            var capacity = _setup.Upstream.Capacity;
            foreach (var token in _setup.Upstream.Tokens)
            {
                if (token.DedicatedTo is null && token.RetiringSince is null && _tokenLimits.TryGetValue(token.Id, out var told) && told.Until > now)
                {
                    capacity -= Math.Max(0, token.Usable - Math.Max(0, told.Usable));
                }
            }

            return Math.Max(0, capacity);
        }
    }

    /// <inheritdoc />
    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var outstanding = state.RecordExists ? state.State.LeasesUntil + ClockMargin : now;
        var longest = now + _options.LeaseTtl;
        _learningUntil = outstanding < longest ? outstanding : longest;
        _predecessorBound = _learningUntil > now ? state.State.LentBound : 0;
        _setup = await GrainFactory.GetGrain<ITenancyGrain>(0).GetPoolSetupAsync(this.GetPrimaryKeyString());
    }

    /// <inheritdoc />
    public async Task<LeaseGrant> RefreshAsync(LeaseRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var now = _time.GetUtcNow();
        Expire(now);
        var tenant = _setup?.Tenants.FirstOrDefault(t => t.Id == request.Tenant);
        if (tenant is null)
        {
            // Not (or no longer) a tenant of this pool: nothing new, and what it holds stays counted until it expires.
            return Grant(0, now, 0);
        }

        if (!_members.TryGetValue(request.Tenant, out var member))
        {
            _members[request.Tenant] = member = new Member();
        }

        member.Demand = request.Demand;
        member.Used = request.Used;
        member.ReportedAt = now;
        member.AskedSinceReport = false;
        var learning = now < _learningUntil;
        if (learning && !member.Counted)
        {
            // What a predecessor lent: counted until it expires, as the tenant reports it.
            member.Lease = request.LeaseInForce;
            member.Expires = now + TimeSpan.FromMilliseconds(request.LeaseInForceTtlMs);
            member.ReportedLease = request.LeaseInForce;
        }

        member.Counted = true;
        long amount;
        if (learning)
        {
            // Renew at most what it holds, and only within what is left once everything the predecessor may still
            // have lent to tenants not heard from yet is counted (the persisted bound less what was reported).
            var share = Shares(now).GetValueOrDefault(request.Tenant);
            var unheard = Math.Max(0, _predecessorBound - _members.Values.Where(m => m.Counted).Sum(m => m.ReportedLease));
            amount = Math.Min(Math.Min(share, member.Lease), Lendable - unheard - Leased(now, except: request.Tenant));
        }
        else
        {
            // The asker's demand (measured at a refresh, or what it needs now when it borrows) counts at once.
            var (ids, plan) = Plan(now, request.Tenant);
            if (request.Borrowing && await AskQuietTenantsAsync(plan, now, request.Tenant))
            {
                (ids, plan) = Plan(now, request.Tenant);
            }

            amount = plan.Grant;
            if (plan.Shrink.Count > 0)
            {
                await ReclaimAsync(SharesOf(ids, plan), now, except: request.Tenant);
                amount = Math.Min(plan.Share, Lendable - Leased(now, except: request.Tenant));
            }
        }

        amount = Math.Max(0, amount);
        if (amount > 0 && (state.State.LeasesUntil < now + _options.LeaseTtl || state.State.LentBound < Lendable))
        {
            // Recorded before the lease is answered, so a successor knows how long to relearn and how much may be out.
            var stillOut = state.State.LeasesUntil > now ? state.State.LentBound : 0;
            state.State.LeasesUntil = now + (2 * _options.LeaseTtl);
            state.State.LentBound = Math.Max(stillOut, Math.Max(Lendable, _predecessorBound));
            await state.WriteStateAsync();
        }

        member.Lease = amount;
        member.Expires = now + _options.LeaseTtl;

        // Told so a tenant borrows the moment its allowance runs out only while there is something to borrow; while
        // relearning the pool renews no more than is held, so borrowing could not help.
        var unlent = learning ? 0 : Math.Max(0, Lendable - Leased(now, except: null));
        return Grant(amount, now, ++member.Sequence) with { Unlent = unlent };
    }

    /// <inheritdoc />
    public async Task<AllocationReport?> GetAllocationAsync()
    {
        if (_setup is not { } setup)
        {
            return null;
        }

        var now = _time.GetUtcNow();
        Expire(now);
        var shares = Shares(now);
        var statuses = await Task.WhenAll(setup.Upstream.Tokens.Select(t => GrainFactory.GetGrain<IUpstreamTokenGrain>(TokenKeys.Key(setup.Upstream.Name, t.Id)).GetStatusAsync()));
        return new AllocationReport
        {
            Upstream = setup.Upstream.Name,
            WindowSeconds = setup.Upstream.WindowSeconds,
            Capacity = setup.Upstream.Capacity,
            CapacityNow = CapacityNow,
            Reserved = setup.Upstream.Reserved,
            Lendable = Lendable,
            Leased = Leased(now, except: null),
            Learning = now < _learningUntil,
            LearningEndsInMs = now < _learningUntil ? DecisionResults.CeilingMilliseconds(_learningUntil - now) : 0,
            Tenants = [.. setup.Tenants.Select(t =>
            {
                var member = _members.GetValueOrDefault(t.Id);
                return new TenantAllocation
                {
                    Tenant = t.Id,
                    Tier = t.Tier,
                    Weight = t.Weight,
                    Priority = t.Priority,
                    Reserved = t.Reserved,
                    Burst = t.Burst,
                    Demand = member?.Demand ?? 0,
                    FairShare = shares.GetValueOrDefault(t.Id),
                    Lease = member?.Lease ?? 0,
                    LeaseTtlMs = member is { Lease: > 0 } ? DecisionResults.CeilingMilliseconds(member.Expires - now) : 0,
                    Used = member?.Used ?? 0,
                };
            })],
            Tokens = [.. statuses.OfType<TokenAllocation>()],
            Silo = RuntimeIdentity,
        };
    }

    /// <inheritdoc />
    public async Task ConfigureAsync(PoolSetup? setup)
    {
        _setup = setup;
        var now = _time.GetUtcNow();
        foreach (var token in _tokenLimits.Keys.Where(id => setup?.Upstream.Tokens.Any(t => t.Id == id && t.DedicatedTo is null && t.RetiringSince is null) != true).ToList())
        {
            // No longer pooled: should it come back, it tells its limit again when configured.
            _tokenLimits.Remove(token);
        }

        foreach (var (id, member) in _members.Where(m => setup?.Tenants.Any(t => t.Id == m.Key) != true).ToList())
        {
            // A tenant that left the pool (moved, removed, dedicated now) drops its lease when the tenancy grain tells
            // it; until the lease would have expired it stays counted, in case that message is late or lost.
            member.Demand = 0;
        }

        // Less to lend (a token removed, a reserve raised): lower whoever now holds more than its share. While
        // relearning, only those heard from can be asked; the rest is covered by the predecessor's bound.
        await ReclaimIfShortAsync(now);
    }

    /// <inheritdoc />
    public async Task TokenLimitAsync(string token, long? usableNow, long validForMs)
    {
        if (usableNow is { } limit)
        {
            _tokenLimits[token] = (limit, _time.GetUtcNow() + TimeSpan.FromMilliseconds(Math.Max(0, validForMs)));
        }
        else
        {
            _tokenLimits.Remove(token);
        }

        await ReclaimIfShortAsync(_time.GetUtcNow());
    }

    private async Task ReclaimIfShortAsync(DateTimeOffset now)
    {
        Expire(now);
        if (Leased(now, except: null) > Lendable)
        {
            await ReclaimAsync(Shares(now), now, except: null);
        }
    }

    /// <summary>Each tenant's fair share of what the pool lends, over the demands reported within a lease lifetime.</summary>
    private Dictionary<string, long> Shares(DateTimeOffset now)
    {
        var tenants = _setup?.Tenants ?? [];
        var requests = new ShareRequest[tenants.Length];
        for (var i = 0; i < tenants.Length; i++)
        {
            var member = _members.GetValueOrDefault(tenants[i].Id);
            var demand = member is not null && now - member.ReportedAt < _options.LeaseTtl ? member.Demand : 0;
            requests[i] = new ShareRequest(demand, tenants[i].Weight, tenants[i].Priority);
        }

        var shares = FairShare.Allocate(Lendable, requests);
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < tenants.Length; i++)
        {
            result[tenants[i].Id] = shares[i];
        }

        return result;
    }

    /// <summary>
    /// The answer to <paramref name="asker"/> over every tenant of the pool (in configuration order) and, after them,
    /// every former tenant whose lease still counts (demand 0, so asked to shrink to 0 like any lease above its share).
    /// </summary>
    private (string[] Ids, LendingPlan Plan) Plan(DateTimeOffset now, string asker)
    {
        var tenants = _setup?.Tenants ?? [];
        // A set, not a scan per member: a pool of hundreds of tenants plans at every refresh.
        var current = new HashSet<string>(tenants.Select(t => t.Id), StringComparer.Ordinal);
        var departed = _members.Where(m => m.Value.Expires > now && m.Value.Lease > 0 && !current.Contains(m.Key)).Select(m => m.Key).ToList();
        var ids = new string[tenants.Length + departed.Count];
        var requests = new ShareRequest[ids.Length];
        var held = new long[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = i < tenants.Length ? tenants[i].Id : departed[i - tenants.Length];
            var member = _members.GetValueOrDefault(ids[i]);
            var demand = i < tenants.Length && member is not null && now - member.ReportedAt < _options.LeaseTtl ? member.Demand : 0;
            requests[i] = i < tenants.Length ? new ShareRequest(demand, tenants[i].Weight, tenants[i].Priority) : new ShareRequest(0);
            held[i] = member is not null && member.Expires > now ? member.Lease : 0;
        }

        return (ids, LendingPlan.For(Lendable, requests, held, Array.IndexOf(ids, asker)));
    }

    /// <summary>
    /// Before a borrower is lent more than its guaranteed share, asks every tenant that reported less demand than its
    /// own guarantee (and was not asked since) whether requests have reached it since; one that answers yes counts with
    /// at least its guarantee until it reports again. So tenants bursting together split what is unlent by weight,
    /// while one bursting alone still gets everything unlent at once. Answers whether any demand was raised.
    /// </summary>
    private async Task<bool> AskQuietTenantsAsync(LendingPlan plan, DateTimeOffset now, string asker)
    {
        var tenants = _setup?.Tenants ?? [];
        var guarantees = LendingPlan.Guarantees(Lendable, [.. tenants.Select(t => new ShareRequest(t.Burst is { } b ? Math.Min(b, Lendable) : Lendable, t.Weight, t.Priority))]);
        var askerIndex = Array.FindIndex(tenants, t => t.Id == asker);
        if (askerIndex < 0 || plan.Grant <= guarantees[askerIndex])
        {
            return false;
        }

        var quiet = new List<(string Id, Member Member, long Guarantee)>();
        for (var i = 0; i < tenants.Length; i++)
        {
            var id = tenants[i].Id;
            if (id == asker || guarantees[i] == 0)
            {
                continue;
            }

            if (!_members.TryGetValue(id, out var member))
            {
                _members[id] = member = new Member();
            }

            var demand = now - member.ReportedAt < _options.LeaseTtl ? member.Demand : 0;
            if (demand < guarantees[i] && !member.AskedSinceReport)
            {
                quiet.Add((id, member, guarantees[i]));
            }
        }

        if (quiet.Count == 0)
        {
            return false;
        }

        // Bounded like the borrower's own wait: a tenant that does not answer in time counts as quiet.
        var answers = quiet.Select(q => GrainFactory.GetGrain<ITenantClusterGrain>(q.Id).IsActiveAsync().WaitAsync(_options.BorrowWait, _time)).ToArray();
        try
        {
            await Task.WhenAll(answers);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogAskFailed(logger, this.GetPrimaryKeyString(), e.GetType().Name);
        }

        var raised = false;
        for (var i = 0; i < quiet.Count; i++)
        {
            var (_, member, guarantee) = quiet[i];
            member.AskedSinceReport = true;
            if (answers[i].IsCompletedSuccessfully && answers[i].Result)
            {
                member.Demand = Math.Max(now - member.ReportedAt < _options.LeaseTtl ? member.Demand : 0, guarantee);
                member.ReportedAt = now;
                raised = true;
            }
        }

        return raised;
    }

    private static Dictionary<string, long> SharesOf(string[] ids, LendingPlan plan)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < ids.Length; i++)
        {
            result[ids[i]] = plan.Shares[i];
        }

        return result;
    }

    /// <summary>Lowers, and waits for, every lease above its share; a tenant that does not acknowledge keeps its lease counted.</summary>
    private async Task ReclaimAsync(Dictionary<string, long> shares, DateTimeOffset now, string? except)
    {
        var over = _members
            .Where(m => m.Key != except && m.Value.Lease > 0 && m.Value.Expires > now && m.Value.Lease > shares.GetValueOrDefault(m.Key))
            .Select(m => (Tenant: m.Key, Member: m.Value, Share: shares.GetValueOrDefault(m.Key)))
            .ToList();
        var revisions = over.Select(o => GrainFactory.GetGrain<ITenantClusterGrain>(o.Tenant).ReviseLeaseAsync(
            Grant(o.Share, now, ++o.Member.Sequence) with { TtlMs = DecisionResults.CeilingMilliseconds(o.Member.Expires - now) })).ToArray();
        try
        {
            await Task.WhenAll(revisions);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogReviseFailed(logger, this.GetPrimaryKeyString(), e.GetType().Name);
        }

        for (var i = 0; i < over.Count; i++)
        {
            if (revisions[i].IsCompletedSuccessfully)
            {
                over[i].Member.Lease = Math.Min(over[i].Member.Lease, over[i].Share);
            }
        }
    }

    private long Leased(DateTimeOffset now, string? except)
    {
        long sum = 0;
        foreach (var (tenant, member) in _members)
        {
            if (tenant != except && member.Expires > now)
            {
                sum += member.Lease;
            }
        }

        return sum;
    }

    private void Expire(DateTimeOffset now)
    {
        foreach (var (id, member) in _members.ToList())
        {
            if (member.Expires <= now)
            {
                member.Lease = 0;
                if (_setup?.Tenants.Any(t => t.Id == id) != true)
                {
                    _members.Remove(id);
                }
            }
        }
    }

    private LeaseGrant Grant(long amount, DateTimeOffset now, long sequence) => new()
    {
        Amount = amount,
        TtlMs = (long)_options.LeaseTtl.TotalMilliseconds,
        RefreshMs = (long)_options.LeaseRefresh.TotalMilliseconds,
        Learning = now < _learningUntil,
        Epoch = _epoch,
        Sequence = sequence,
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pool {Upstream} could not lower a lease ({ErrorType}); it stays counted until it expires.")]
    private static partial void LogReviseFailed(ILogger logger, string upstream, string errorType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pool {Upstream} could not ask every quiet tenant whether it is busy ({ErrorType}); those that did not answer count as quiet.")]
    private static partial void LogAskFailed(ILogger logger, string upstream, string errorType);

    private sealed class Member
    {
        /// <summary>Whether a borrow asked the tenant whether it is busy since it last reported its demand.</summary>
        public bool AskedSinceReport { get; set; }

        public long Demand { get; set; }

        public long Used { get; set; }

        public DateTimeOffset ReportedAt { get; set; }

        public long Lease { get; set; }

        public DateTimeOffset Expires { get; set; }

        /// <summary>Whether this activation has heard from the tenant (its lease is in the count).</summary>
        public bool Counted { get; set; }

        /// <summary>The last grant or revision sent to the tenant.</summary>
        public long Sequence { get; set; }

        /// <summary>While relearning: what the tenant held from the predecessor when first heard from.</summary>
        public long ReportedLease { get; set; }
    }
}

/// <summary>What a pool persists: only how long leases it granted may be outstanding.</summary>
[GenerateSerializer, Alias("quota.PoolState")]
public sealed class PoolState
{
    /// <summary>No lease granted by this pool expires after this.</summary>
    [Id(0)] public DateTimeOffset LeasesUntil { get; set; }

    /// <summary>At most this much may be lent out until <see cref="LeasesUntil"/> (the most the pool could lend while granting).</summary>
    [Id(1)] public long LentBound { get; set; }
}
