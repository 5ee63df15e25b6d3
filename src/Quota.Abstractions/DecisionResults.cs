namespace Quota.Abstractions;

/// <summary>One subject's answer within a request, with the request field that named it.</summary>
/// <param name="Kind">The subject's kind.</param>
/// <param name="Id">The subject's id (a key's key id, never the raw key).</param>
/// <param name="Field">The request field that named the subject, for problems (<c>user</c>, <c>resources[1]</c>).</param>
/// <param name="Decision">What the subject answered.</param>
public sealed record SubjectAnswer(SubjectKind Kind, string Id, string Field, SubjectDecision Decision)
{
    /// <summary>The subject's label, e.g. <c>user:alice</c>.</summary>
    public string Label { get; } = SubjectNames.Label(Kind, Id);
}

/// <summary>
/// Combines subjects' answers into the answer to a whole request. Shared by the silo's coordinator and the client,
/// which asks a single subject directly, so both answer alike.
/// </summary>
public static class DecisionResults
{
    // Each kind's grain type and interface type, worked out once. Orleans' GetGrain<T>(string) resolves the interface
    // type by reflection on every call (its custom attributes, in Orleans 10.4), which cost a client about as much as the
    // rest of a decision; a reference made from a grain id and a known interface type skips that. Both identities come
    // from the types' [GrainType] and [Alias] attributes, so they are the same for every grain factory of this build.
    private static (GrainType Type, GrainInterfaceType Interface)[]? s_subjectTypes;

    /// <summary>The grain of a subject.</summary>
    public static ISubjectGrain Grain(IGrainFactory grains, SubjectKind kind, string id)
    {
        ArgumentNullException.ThrowIfNull(grains);
        var types = s_subjectTypes ??= [.. Enum.GetValues<SubjectKind>().Select(k => Identity(grains, k))];
        if ((uint)kind >= (uint)types.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a kind of subject.");
        }

        var (type, face) = types[(int)kind];
        return (ISubjectGrain)grains.GetGrain(GrainId.Create(type, id), face);
    }

    // SubjectKind's values run 0, 1, 2, ... so each indexes its own entry.
    private static (GrainType, GrainInterfaceType) Identity(IGrainFactory grains, SubjectKind kind)
    {
        var probe = (GrainReference)(kind switch
        {
            SubjectKind.User => grains.GetGrain<IUserGrain>("probe"),
            SubjectKind.ApiKey => grains.GetGrain<IApiKeyGrain>("probe"),
            SubjectKind.Resource => grains.GetGrain<IResourceGrain>("probe"),
            SubjectKind.Tenant => grains.GetGrain<ITenantGrain>("probe"),
            SubjectKind.Token => (ISubjectGrain)grains.GetGrain<IUpstreamTokenGrain>("probe"),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Not a kind of subject."),
        });
        return (probe.GrainId.Type, probe.InterfaceType);
    }

    /// <summary>
    /// The final answer when every subject has answered and at least one did not admit; null when all admitted
    /// (see <see cref="Allowed"/>) or when the only denials are plain "not now" (see <see cref="Denied"/>).
    /// </summary>
    public static AcquireResult? Rejected(long cost, IReadOnlyList<SubjectAnswer> answers)
    {
        ArgumentNullException.ThrowIfNull(answers);
        foreach (var answer in answers)
        {
            if (answer.Decision.Outcome == DecisionOutcome.UnknownSubject)
            {
                return Unknown(answer);
            }

            if (answer.Decision.Outcome == DecisionOutcome.Invalid)
            {
                return Invalid(answer.Decision.Problem ?? new FieldProblem(answer.Field, "is not acceptable."));
            }
        }

        foreach (var answer in answers)
        {
            // After unknown and invalid subjects (retrying would not help those), before any limit: nothing was decided.
            if (answer.Decision.Outcome == DecisionOutcome.Overloaded)
            {
                return Overloaded(answer);
            }
        }

        foreach (var answer in answers)
        {
            var decision = answer.Decision;
            if (decision.Outcome == DecisionOutcome.CostExceedsLimit)
            {
                var limit = decision.Policies.FirstOrDefault(p => p.Policy == decision.LimitedBy)?.Limit;
                return new AcquireResult
                {
                    Outcome = DecisionOutcome.CostExceedsLimit,
                    Cause = DenialCause.Policy,
                    LimitedBy = $"{answer.Label}/{decision.LimitedBy}",
                    RetryAfterMs = -1,
                    Policies = Policies(answers),
                    Problem = new FieldProblem("cost", $"{cost} is more than {answer.Label}/{decision.LimitedBy} can ever admit at once ({limit}); split the request."),
                };
            }
        }

        return null;
    }

    /// <summary>The answer when every subject admitted: the tightest policy's numbers and, when any subject holds the grant, a lease id.</summary>
    public static AcquireResult Allowed(IReadOnlyList<SubjectAnswer> answers, string? leaseNonce)
    {
        ArgumentNullException.ThrowIfNull(answers);
        var policies = Policies(answers);
        PolicyState? tightest = null;
        foreach (var policy in policies)
        {
            if (tightest is null || policy.Remaining < tightest.Remaining)
            {
                tightest = policy;
            }
        }

        List<(SubjectKind, string)>? holders = null;
        foreach (var answer in answers)
        {
            if (answer.Decision.Leased)
            {
                (holders ??= []).Add((answer.Kind, answer.Id));
                leaseNonce ??= answer.Decision.LeaseNonce;
            }
        }

        return new AcquireResult
        {
            Allowed = true,
            Outcome = DecisionOutcome.Allowed,
            Remaining = tightest?.Remaining ?? 0,
            Limit = tightest?.Limit ?? 0,
            ResetAfterMs = tightest?.ResetAfterMs ?? 0,
            LeaseId = holders is not null && leaseNonce is not null ? LeaseIds.Encode(leaseNonce, holders) : null,
            Policies = policies,
        };
    }

    /// <summary>The answer when some subject said "not now": the one with the longest retry-after limits the request.</summary>
    public static AcquireResult Denied(IReadOnlyList<SubjectAnswer> answers)
    {
        ArgumentNullException.ThrowIfNull(answers);
        var denierAnswer = answers.Where(a => !a.Decision.Allowed).MaxBy(a => a.Decision.RetryAfter)!;
        var denier = denierAnswer.Decision;
        var policies = Policies(answers);

        // limitedBy names the denying policy or, for a cause that is not a policy, the cause (what clients have always
        // matched on). The headline numbers are those of the policy of that name when the subject has one (a tenant's
        // allowance is reported as its policy "allowance" too), else of the most constrained policy.
        var named = denier.LimitedBy ?? DenialCauses.Name(denier.Cause);
        var limiting = policies.FirstOrDefault(p => p.Subject == denierAnswer.Label && p.Policy == named)
            ?? (policies.Length == 0 ? null : policies.MinBy(p => p.Remaining));
        return new AcquireResult
        {
            Outcome = DecisionOutcome.Denied,
            Cause = denier.Cause,
            LimitedBy = $"{denierAnswer.Label}/{named}",
            Remaining = limiting?.Remaining ?? 0,
            Limit = limiting?.Limit ?? 0,
            ResetAfterMs = limiting?.ResetAfterMs ?? 0,
            RetryAfterMs = CeilingMilliseconds(denier.RetryAfter),
            Policies = policies,
        };
    }

    /// <summary>An invalid request's answer.</summary>
    public static AcquireResult Invalid(FieldProblem problem) => new() { Outcome = DecisionOutcome.Invalid, Problem = problem, RetryAfterMs = -1 };

    /// <summary>Milliseconds rounded up, so a caller retrying at the answer is never early; -1 for never.</summary>
    public static long CeilingMilliseconds(TimeSpan span) =>
        span == TimeSpan.MaxValue ? -1 : (span.Ticks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond;

    private static PolicyState[] Policies(IReadOnlyList<SubjectAnswer> answers)
    {
        var count = 0;
        foreach (var answer in answers)
        {
            count += answer.Decision.Policies.Length;
        }

        var states = new PolicyState[count];
        var i = 0;
        foreach (var answer in answers)
        {
            foreach (var reading in answer.Decision.Policies)
            {
                states[i++] = reading.ToState(answer.Label);
            }
        }

        return states;
    }

    private static AcquireResult Overloaded(SubjectAnswer answer) => new()
    {
        Outcome = DecisionOutcome.Overloaded,
        Cause = DenialCause.Overloaded,
        RetryAfterMs = CeilingMilliseconds(answer.Decision.RetryAfter),
        Problem = new FieldProblem(answer.Field, answer.Decision.Problem?.Detail
            ?? $"{answer.Label} was not taken on: the silo is at its ceiling of active subjects (Quota:Limits:MaxActiveSubjects). Nothing was consumed; retry later."),
    };

    private static AcquireResult Unknown(SubjectAnswer answer) => new()
    {
        Outcome = DecisionOutcome.UnknownSubject,
        RetryAfterMs = -1,
        Problem = answer.Kind switch
        {
            SubjectKind.ApiKey => new FieldProblem(answer.Field, "this API key is not registered; register it for its user first."),
            SubjectKind.Resource => new FieldProblem(answer.Field, $"resource '{answer.Id}' is not configured; add it (or a pattern matching it) under Quota:Policies:Resources."),
            _ => new FieldProblem(answer.Field, $"'{answer.Id}' is not known."),
        },
    };
}
