using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Quota.Abstractions;
using Quota.Grains.Configuration;
using Quota.Grains.Subjects;

namespace Quota.Grains.Decisions;

/// <summary>
/// Combines the subjects a request names into one all-or-nothing decision. Stateless: it holds nothing between
/// requests, so any silo's activation can serve any request.
/// </summary>
/// <remarks>
/// <para>The key is asked first, because it names the user whose limits also apply; the other subjects are asked
/// in parallel. When any subject denies, every grant already made is refunded, so a rejected request consumes
/// nothing anywhere. The refund is a second message: for that round trip a concurrent request may see the
/// permits as taken and be denied. The error is always on the safe side: never more than any limit.</para>
/// <para>With a wait, the caller waits in the queue of the subject whose retry-after is longest; once granted
/// there it asks the others again, and if one of those denies it gives the grant back and waits at that one,
/// until admitted everywhere at once or the deadline passes.</para>
/// <para>One worker per key per silo: Orleans routes the cancellation of a call into a stateless worker as a new
/// message to any of its workers (dotnet/orleans#9877), so with several workers a caller who gives up (an HTTP
/// client that disconnects) is not taken out of the queue, and is granted the capacity when it frees. With one
/// worker the cancellation reaches the call it belongs to. <c>QuotaClient</c> spreads calls over
/// <c>QuotaClient.DecisionKeys</c> keys, so a silo still runs as many decision activations as it has cores.</para>
/// </remarks>
[StatelessWorker(1), Reentrant]
[GrainType("decision")]
public sealed class DecisionGrain(
    IGrainFactory grains,
    ApiKeyHasher hasher,
    IOptions<DecisionOptions> options,
    TimeProvider time) : Grain, IDecisionGrain
{
    private readonly DecisionOptions _options = options.Value;

    /// <inheritdoc />
    public async Task<AcquireResult> AcquireAsync(AcquireRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var problems = RequestRules.Validate(request, _options.MaxWait);
        if (problems.Count > 0)
        {
            return new AcquireResult { Outcome = DecisionOutcome.Invalid, Problem = problems[0], RetryAfterMs = -1 };
        }

        if (request.Tenant is not null || request.Upstream is not null)
        {
            var field = request.Tenant is not null ? "tenant" : "upstream";
            return new AcquireResult
            {
                Outcome = DecisionOutcome.UnknownSubject,
                RetryAfterMs = -1,
                Problem = new FieldProblem(field, $"no {field}s are configured on this cluster yet; tenants and upstreams arrive with tenancy."),
            };
        }

        var subjects = new List<Subject>();
        if (request.ApiKey is { } rawKey)
        {
            var keyId = hasher.KeyId(rawKey);
            subjects.Add(new Subject(SubjectKind.ApiKey, keyId, "apiKey", grains.GetGrain<IApiKeyGrain>(keyId)));
        }

        if (request.User is { } user)
        {
            subjects.Add(new Subject(SubjectKind.User, user, "user", grains.GetGrain<IUserGrain>(user)));
        }

        var resources = request.Resources ?? [];
        for (var i = 0; i < resources.Length; i++)
        {
            if (!subjects.Exists(s => s.Kind == SubjectKind.Resource && s.Id == resources[i]))
            {
                subjects.Add(new Subject(SubjectKind.Resource, resources[i], $"resources[{i}]", grains.GetGrain<IResourceGrain>(resources[i])));
            }
        }

        var nonce = Guid.NewGuid().ToString("N");
        var deadline = time.GetUtcNow() + TimeSpan.FromMilliseconds(request.MaxWaitMs);
        var ask = new SubjectAcquire { Cost = request.Cost, Priority = request.Priority, LeaseId = nonce, Reserve = request.Reserve };
        Subject? waitAt = null;
        while (true)
        {
            var round = await RoundAsync(request, subjects, ask, waitAt, deadline, cancellationToken);
            if (round.Refunds is { } refunds)
            {
                // The caller hears of a denial only once nothing of it is held anywhere, and with the state
                // after the refunds: a rejected request shows nothing consumed.
                round = AfterRefunds(round, await refunds);
            }

            if (round.Result is { } finished)
            {
                return finished;
            }

            // The subject we waited at could not grant before the deadline: that is the answer.
            if (waitAt is not null && round.Decisions[0].Subject == waitAt && !round.Decisions[0].Decision.Allowed)
            {
                return Denied(round.Decisions);
            }

            // Denied: wait at the subject with the longest retry-after, if the deadline allows any waiting.
            var remaining = deadline - time.GetUtcNow();
            if (request.MaxWaitMs <= 0 || remaining <= TimeSpan.Zero)
            {
                return Denied(round.Decisions);
            }

            waitAt = round.LongestDenier;
        }
    }

    /// <inheritdoc />
    public async Task<LeaseOutcome> SettleAsync(string leaseId, long actualCost)
    {
        if (actualCost < 0 || !LeaseIds.TryDecode(leaseId, out var nonce, out var holders))
        {
            return LeaseOutcome.Invalid;
        }

        var outcomes = await Task.WhenAll(holders.Select(h => SubjectGrain(h.Kind, h.Id).SettleAsync(nonce, actualCost)));
        return outcomes.Contains(LeaseOutcome.Done) ? LeaseOutcome.Done : LeaseOutcome.NotFound;
    }

    /// <inheritdoc />
    public async Task<LeaseOutcome> ReleaseAsync(string leaseId)
    {
        if (!LeaseIds.TryDecode(leaseId, out var nonce, out var holders))
        {
            return LeaseOutcome.Invalid;
        }

        var outcomes = await Task.WhenAll(holders.Select(h => SubjectGrain(h.Kind, h.Id).ReleaseAsync(nonce)));
        return outcomes.Contains(LeaseOutcome.Done) ? LeaseOutcome.Done : LeaseOutcome.NotFound;
    }

    /// <inheritdoc />
    public Task<UsageReport> GetUsageAsync(SubjectKind kind, string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (kind is SubjectKind.Tenant or SubjectKind.Upstream || (kind == SubjectKind.ApiKey && !ApiKeyHasher.IsKeyId(id)))
        {
            return Task.FromResult(new UsageReport { Subject = SubjectNames.Label(kind, id), Known = false });
        }

        return SubjectGrain(kind, id).GetUsageAsync();
    }

    /// <inheritdoc />
    public Task<ApiKeyInfo> RegisterKeyAsync(string rawKey, string owner, PolicySpec[]? policies)
    {
        ArgumentException.ThrowIfNullOrEmpty(rawKey);
        return grains.GetGrain<IApiKeyGrain>(hasher.KeyId(rawKey)).RegisterAsync(owner, policies);
    }

    private ISubjectGrain SubjectGrain(SubjectKind kind, string id) => kind switch
    {
        SubjectKind.User => grains.GetGrain<IUserGrain>(id),
        SubjectKind.ApiKey => grains.GetGrain<IApiKeyGrain>(id),
        SubjectKind.Resource => grains.GetGrain<IResourceGrain>(id),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "This kind of subject arrives with tenancy."),
    };

    /// <summary>
    /// One all-or-nothing attempt: the subject to wait at first (with the remaining wait), else the key first,
    /// then everyone else at once. Refunds every grant when anyone denies.
    /// </summary>
    private async Task<Round> RoundAsync(AcquireRequest request, List<Subject> subjects, SubjectAcquire ask, Subject? waitAt, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        var decisions = new List<(Subject Subject, SubjectDecision Decision)>(subjects.Count + 1);
        var first = waitAt ?? (subjects[0].Kind == SubjectKind.ApiKey ? subjects[0] : null);
        if (first is not null)
        {
            var waitMs = waitAt is null ? 0 : Math.Max(0, (long)Math.Ceiling((deadline - time.GetUtcNow()).TotalMilliseconds));
            var decision = await first.Grain.AcquireAsync(ask with { MaxWaitMs = waitMs }, cancellationToken);
            decisions.Add((first, decision));
            if (!decision.Allowed)
            {
                return Evaluate(request, decisions);
            }

            if (first.Kind == SubjectKind.ApiKey && !subjects.Exists(s => s.Kind == SubjectKind.User))
            {
                var owner = decision.Owner!;
                subjects.Insert(1, new Subject(SubjectKind.User, owner, "apiKey", grains.GetGrain<IUserGrain>(owner)));
            }
            else if (first.Kind == SubjectKind.ApiKey && subjects.Find(s => s.Kind == SubjectKind.User) is { } named && named.Id != decision.Owner)
            {
                await RefundAsync(decisions, ask.LeaseId);
                return new Round(Invalid(new FieldProblem("apiKey", "the key belongs to a different user than the request names; omit user or name the key's owner.")), decisions, null);
            }
        }

        var rest = subjects.Where(s => s != first).ToList();
        var answers = await Task.WhenAll(rest.Select(s => s.Grain.AcquireAsync(ask, cancellationToken)));
        for (var i = 0; i < rest.Count; i++)
        {
            decisions.Add((rest[i], answers[i]));
        }

        return Evaluate(request, decisions);

        Round Evaluate(AcquireRequest request, List<(Subject Subject, SubjectDecision Decision)> decisions)
        {
            if (decisions.TrueForAll(d => d.Decision.Allowed))
            {
                return new Round(Allowed(decisions, ask.LeaseId!), decisions, null);
            }

            // Give back every grant at once: a rejected request consumes nothing anywhere.
            var refunds = RefundAsync(decisions, ask.LeaseId);
            var unknown = decisions.Find(d => d.Decision.Outcome == DecisionOutcome.UnknownSubject);
            if (unknown.Subject is not null)
            {
                return new Round(Unknown(unknown.Subject), decisions, null, refunds);
            }

            var tooBig = decisions.Find(d => d.Decision.Outcome == DecisionOutcome.CostExceedsLimit);
            if (tooBig.Subject is not null)
            {
                var policy = tooBig.Decision.Policies.FirstOrDefault(p => p.Policy == tooBig.Decision.LimitedBy);
                return new Round(new AcquireResult
                {
                    Outcome = DecisionOutcome.CostExceedsLimit,
                    LimitedBy = $"{tooBig.Decision.Subject}/{tooBig.Decision.LimitedBy}",
                    RetryAfterMs = -1,
                    Policies = [.. decisions.SelectMany(d => d.Decision.Policies)],
                    Problem = new FieldProblem("cost", $"{request.Cost} is more than {tooBig.Decision.Subject}/{tooBig.Decision.LimitedBy} can ever admit at once ({policy?.Limit}); split the request."),
                }, decisions, null, refunds);
            }

            var longest = decisions.Where(d => !d.Decision.Allowed).MaxBy(d => d.Decision.RetryAfter);
            return new Round(null, decisions, longest.Subject, refunds);
        }
    }

    /// <summary>Refunds every subject that granted; answers each refunded subject's policy states after its refund, by label.</summary>
    private static async Task<Dictionary<string, PolicyState[]>> RefundAsync(List<(Subject Subject, SubjectDecision Decision)> decisions, string? leaseId)
    {
        var granted = decisions.Where(d => d.Decision.Allowed && d.Decision.Grants.Length > 0).ToList();
        var states = await Task.WhenAll(granted.Select(d => d.Subject.Grain.RefundAsync(d.Decision.Grants, leaseId)));
        var after = new Dictionary<string, PolicyState[]>(StringComparer.Ordinal);
        for (var i = 0; i < granted.Count; i++)
        {
            after[granted[i].Decision.Subject] = states[i];
        }

        return after;
    }

    /// <summary>The round with refunded subjects' policy states replaced by their states after the refund.</summary>
    private static Round AfterRefunds(Round round, Dictionary<string, PolicyState[]> after)
    {
        if (after.Count == 0)
        {
            return round;
        }

        var decisions = round.Decisions
            .Select(d => after.TryGetValue(d.Decision.Subject, out var states) ? (d.Subject, d.Decision with { Policies = states }) : d)
            .ToList();
        var result = round.Result is { } finished
            ? finished with { Policies = [.. finished.Policies.Select(p => after.TryGetValue(p.Subject, out var states) ? states.FirstOrDefault(s => s.Policy == p.Policy) ?? p : p)] }
            : null;
        return round with { Result = result, Decisions = decisions };
    }

    private static AcquireResult Allowed(List<(Subject Subject, SubjectDecision Decision)> decisions, string nonce)
    {
        var policies = decisions.SelectMany(d => d.Decision.Policies).ToArray();
        var tightest = policies.Length == 0 ? null : policies.MinBy(p => p.Remaining);
        var holders = decisions.Where(d => d.Decision.Held).Select(d => (d.Subject.Kind, d.Subject.Id)).ToList();
        return new AcquireResult
        {
            Allowed = true,
            Outcome = DecisionOutcome.Allowed,
            Remaining = tightest?.Remaining ?? long.MaxValue,
            Limit = tightest?.Limit ?? 0,
            ResetAfterMs = tightest?.ResetAfterMs ?? 0,
            LeaseId = holders.Count > 0 ? LeaseIds.Encode(nonce, holders) : null,
            Policies = policies,
        };
    }

    private static AcquireResult Denied(List<(Subject Subject, SubjectDecision Decision)> decisions)
    {
        var denier = decisions.Where(d => !d.Decision.Allowed).MaxBy(d => d.Decision.RetryAfter).Decision;
        var policies = decisions.SelectMany(d => d.Decision.Policies).ToArray();
        var limiting = policies.FirstOrDefault(p => p.Subject == denier.Subject && p.Policy == denier.LimitedBy)
            ?? policies.MinBy(p => p.Remaining);
        return new AcquireResult
        {
            Outcome = DecisionOutcome.Denied,
            LimitedBy = $"{denier.Subject}/{denier.LimitedBy}",
            Remaining = limiting?.Remaining ?? 0,
            Limit = limiting?.Limit ?? 0,
            ResetAfterMs = limiting?.ResetAfterMs ?? 0,
            RetryAfterMs = Subjects.SubjectGrain.CeilingMilliseconds(denier.RetryAfter),
            Policies = policies,
        };
    }

    private static AcquireResult Unknown(Subject subject) => new()
    {
        Outcome = DecisionOutcome.UnknownSubject,
        RetryAfterMs = -1,
        Problem = subject.Kind switch
        {
            SubjectKind.ApiKey => new FieldProblem(subject.Field, "this API key is not registered; register it for its user first."),
            SubjectKind.Resource => new FieldProblem(subject.Field, $"resource '{subject.Id}' is not configured; add it (or a pattern matching it) under Quota:Policies:Resources."),
            _ => new FieldProblem(subject.Field, $"'{subject.Id}' is not known."),
        },
    };

    private static AcquireResult Invalid(FieldProblem problem) => new() { Outcome = DecisionOutcome.Invalid, Problem = problem, RetryAfterMs = -1 };

    private sealed record Subject(SubjectKind Kind, string Id, string Field, ISubjectGrain Grain);

    private sealed record Round(AcquireResult? Result, List<(Subject Subject, SubjectDecision Decision)> Decisions, Subject? LongestDenier, Task<Dictionary<string, PolicyState[]>>? Refunds = null);
}
