using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;
using Quota.Abstractions;
using Quota.Grains.Configuration;
using Quota.Grains.Subjects;
using Quota.Grains.Upstreams;

namespace Quota.Grains.Decisions;

/// <summary>
/// Combines the subjects a request names into one all-or-nothing decision. Holds nothing between requests.
/// </summary>
/// <remarks>
/// <para>Not a stateless worker: Orleans routes a caller's cancellation to the activation that runs the call only
/// for ordinary grains, and cancellation is how a waiting caller gives up its place. Instead callers spread over
/// <see cref="IDecisionGrain.Keys"/> reentrant activations placed where first called.</para>
/// <para>The key is asked first, because it names the user whose limits also apply; the other subjects are asked
/// in parallel. When any subject denies, every grant already made is refunded before the caller hears of the
/// denial, so a rejected request consumes nothing anywhere. For that refund's round trip a concurrent request may
/// see the permits as taken and be denied: the error is on the safe side, never more than any limit.</para>
/// <para>With a wait, the caller waits in the queue of the subject whose retry-after is longest; once granted there
/// it asks the others again, and if one of those denies it gives the grant back and waits at that one, until
/// admitted everywhere at once or the deadline passes.</para>
/// </remarks>
[Reentrant, PreferLocalPlacement]
[GrainType("decision")]
public sealed class DecisionGrain(
    IGrainFactory grains,
    ApiKeyHasher hasher,
    IOptions<DecisionOptions> options,
    QuotaTime clock,
    TokenChooser chooser) : Grain, IDecisionGrain
{
    private readonly DecisionOptions _options = options.Value;
    private readonly TimeProvider _time = clock.Provider;

    /// <inheritdoc />
    public async Task<SubjectCallAnswer[]> AcquireEachAsync(SubjectCall[] calls)
    {
        ArgumentNullException.ThrowIfNull(calls);
        var decisions = new Task<SubjectDecision>[calls.Length];
        for (var i = 0; i < calls.Length; i++)
        {
            decisions[i] = AcquireOneAsync(calls[i]);
        }

        var answers = new SubjectCallAnswer[calls.Length];
        for (var i = 0; i < calls.Length; i++)
        {
            try
            {
                answers[i] = new SubjectCallAnswer(await decisions[i], null);
            }
            catch (Exception e)
            {
                answers[i] = new SubjectCallAnswer(null, e);
            }
        }

        return answers;
    }

    // What a client may ask a subject directly: a user or a resource, answered at once. Anything else goes through
    // AcquireAsync (keys are hashed here, tenants and upstreams routed, waits cancellable).
    private Task<SubjectDecision> AcquireOneAsync(SubjectCall call)
    {
        if (call is null || call.Id is null || call.Request is null)
        {
            return Task.FromException<SubjectDecision>(new ArgumentException("A batched call needs a kind, an id and a request."));
        }

        if (call.Kind is not (SubjectKind.User or SubjectKind.Resource) || call.Request.MaxWaitMs != 0 || call.Request.ReturnGrants)
        {
            return Task.FromException<SubjectDecision>(new ArgumentException(
                $"A batched call names one user or one resource and does not wait (got {call.Kind} with maxWaitMs {call.Request.MaxWaitMs}); send anything else through AcquireAsync."));
        }

        return DecisionResults.Grain(grains, call.Kind, call.Id).AcquireAsync(call.Request);
    }

    /// <inheritdoc />
    public async Task<AcquireResult> AcquireAsync(ValidatedAcquire validated, CancellationToken cancellationToken = default)
    {
        var activity = QuotaActivities.StartAcquire(validated.Request);
        try
        {
            var result = await AcquireCoreAsync(validated, cancellationToken);
            QuotaActivities.Acquired(activity, result);
            return result;
        }
        catch (Exception e) when (activity is not null)
        {
            activity.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.GetType().Name);
            activity.Dispose();
            throw;
        }
    }

    private async Task<AcquireResult> AcquireCoreAsync(ValidatedAcquire validated, CancellationToken cancellationToken)
    {
        // Validated where it entered (RequestRules.TryValidate); the ceiling on waiting is the silo's own, which a client
        // cannot know.
        var request = validated.Request;
        if (RequestRules.CheckWaitCeiling(request.MaxWaitMs, _options.MaxWait) is { } beyond)
        {
            return DecisionResults.Invalid(beyond);
        }

        TokenRoute? route = null;
        if (request.Tenant is not null || request.Upstream is not null)
        {
            var answer = await chooser.RouteAsync(request.Tenant, request.Upstream);
            if (answer.Route is not { } found)
            {
                return answer.Unknown
                    ? new AcquireResult { Outcome = DecisionOutcome.UnknownSubject, RetryAfterMs = -1, Problem = answer.Problem }
                    : DecisionResults.Invalid(answer.Problem!);
            }

            if (found.Dedicated.Length == 0 && found.Pooled.Length == 0)
            {
                var field = request.Tenant is not null ? "tenant" : "upstream";
                return new AcquireResult
                {
                    Outcome = DecisionOutcome.UnknownSubject,
                    RetryAfterMs = -1,
                    Problem = new FieldProblem(field, $"upstream '{found.Upstream}' has no token this {field} may use; add one with PUT /v1/admin/upstreams/{found.Upstream}/tokens/{{id}}."),
                };
            }

            route = found;
        }

        var subjects = new List<Subject>();
        if (request.ApiKey is { } rawKey)
        {
            subjects.Add(new Subject(SubjectKind.ApiKey, hasher.KeyId(rawKey), "apiKey"));
        }

        if (request.User is { } user)
        {
            subjects.Add(new Subject(SubjectKind.User, user, "user"));
        }

        var resources = request.Resources ?? [];
        for (var i = 0; i < resources.Length; i++)
        {
            if (!subjects.Exists(s => s.Kind == SubjectKind.Resource && s.Id == resources[i]))
            {
                subjects.Add(new Subject(SubjectKind.Resource, resources[i], $"resources[{i}]"));
            }
        }

        var nonce = Guid.NewGuid().ToString("N");
        var deadline = _time.GetUtcNow() + TimeSpan.FromMilliseconds(request.MaxWaitMs);
        var ask = new SubjectAcquire
        {
            Cost = request.Cost,
            Priority = request.Priority,
            LeaseNonce = nonce,
            Reserve = request.Reserve,
            ReturnGrants = true,
            IncludeSecret = request.IncludeSecret,
        };
        var plan = route is null ? null : new TokenPlan(route, request.Tenant);
        Subject? waitAt = null;
        while (true)
        {
            var (answers, final, token) = await RoundAsync(subjects, plan, ask, waitAt, deadline, cancellationToken);
            if (final is not null)
            {
                return final;
            }

            if (answers.TrueForAll(a => a.Decision.Allowed))
            {
                return DecisionResults.Allowed(answers, nonce) with { Token = token };
            }

            // The caller hears of a denial only once nothing of it is held anywhere, and with the states after the
            // refunds: the answer shows nothing consumed.
            answers = await RefundAsync(answers, nonce);
            if (DecisionResults.Rejected(request.Cost, answers) is { } rejected)
            {
                return rejected;
            }

            // The subject waited at could not grant before the deadline, or no wait is allowed: that is the answer.
            var waitedAndDenied = waitAt is not null && answers[0].Field == waitAt.Field && !answers[0].Decision.Allowed;
            if (waitedAndDenied || request.MaxWaitMs <= 0 || deadline <= _time.GetUtcNow())
            {
                return DecisionResults.Denied(answers);
            }

            var longest = answers.Where(a => !a.Decision.Allowed).MaxBy(a => a.Decision.RetryAfter)!;
            waitAt = new Subject(longest.Kind, longest.Id, longest.Field);
        }
    }

    /// <inheritdoc />
    public Task<ApiKeyInfo> RegisterKeyAsync(string rawKey, string owner, PolicySpec[]? policies)
    {
        ArgumentException.ThrowIfNullOrEmpty(rawKey);
        return grains.GetGrain<IApiKeyGrain>(hasher.KeyId(rawKey)).RegisterAsync(owner, policies);
    }

    /// <summary>
    /// One attempt: the subject to wait at first (with the remaining wait), else the key first; then a token when the
    /// request names a tenant or upstream; then everyone else at once. Returns every answer and the chosen token, or
    /// a final answer when the key's owner contradicts the request.
    /// </summary>
    private async Task<(List<SubjectAnswer> Answers, AcquireResult? Final, UpstreamToken? Token)> RoundAsync(
        List<Subject> subjects, TokenPlan? plan, SubjectAcquire ask, Subject? waitAt, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        var answers = new List<SubjectAnswer>(subjects.Count + 2);
        var first = waitAt ?? (subjects.Count > 0 && subjects[0].Kind == SubjectKind.ApiKey ? subjects[0] : null);
        if (first is not null)
        {
            var waitMs = waitAt is null ? 0 : Math.Max(0, (long)Math.Ceiling((deadline - _time.GetUtcNow()).TotalMilliseconds));
            var decision = await Grain(first).AcquireAsync(ask with { MaxWaitMs = waitMs }, cancellationToken);
            if (first.Kind == SubjectKind.Token)
            {
                chooser.Observe(first.Id, decision);
            }

            answers.Add(new SubjectAnswer(first.Kind, first.Id, first.Field, decision));
            if (!decision.Allowed)
            {
                return (answers, null, null);
            }

            if (first.Kind == SubjectKind.ApiKey)
            {
                var named = subjects.Find(s => s.Kind == SubjectKind.User);
                if (named is null)
                {
                    subjects.Insert(1, new Subject(SubjectKind.User, decision.Owner!, "user"));
                }
                else if (named.Id != decision.Owner)
                {
                    _ = await RefundAsync(answers, ask.LeaseNonce);
                    return (answers, DecisionResults.Invalid(new FieldProblem("apiKey", "the key belongs to a different user than the request names; omit user or name the key's owner.")), null);
                }
            }
        }

        UpstreamToken? token = null;
        if (plan is not null)
        {
            try
            {
                token = await ChooseTokenAsync(plan, ask, answers);
            }
            catch
            {
                // A tenant or token call failed: give back what was granted so far (the key, a waited-at subject,
                // the tenant's allowance), then fail.
                await RefundAsync(answers, ask.LeaseNonce);
                throw;
            }

            if (token is null)
            {
                return (answers, null, null);
            }
        }

        // These calls cannot wait, so they take no cancellation: once sent, their answers are needed to refund.
        var rest = subjects.Where(s => s != first).ToList();
        var calls = rest.Select(s => Grain(s).AcquireAsync(ask, CancellationToken.None)).ToArray();
        try
        {
            await Task.WhenAll(calls);
        }
        catch
        {
            // A subject failed (a silo died, a call timed out): give back what the others granted, then fail.
            for (var i = 0; i < rest.Count; i++)
            {
                if (calls[i].IsCompletedSuccessfully)
                {
                    answers.Add(new SubjectAnswer(rest[i].Kind, rest[i].Id, rest[i].Field, calls[i].Result));
                }
            }

            await RefundAsync(answers, ask.LeaseNonce);
            throw;
        }

        for (var i = 0; i < rest.Count; i++)
        {
            answers.Add(new SubjectAnswer(rest[i].Kind, rest[i].Id, rest[i].Field, calls[i].Result));
        }

        return (answers, null, token);
    }

    /// <summary>
    /// Chooses a token and adds its grant (and, for a pooled token, the tenant's) to <paramref name="answers"/>:
    /// the tenant's dedicated tokens first, then the tenant's allowance and the pooled tokens, each group least
    /// utilised first. Answers null when none admits, with the denial to report (and wait at) added: the tenant's, or
    /// the token that would admit soonest. A token granted by a wait (the first answer) is taken as the choice.
    /// </summary>
    private async Task<UpstreamToken?> ChooseTokenAsync(TokenPlan plan, SubjectAcquire ask, List<SubjectAnswer> answers)
    {
        var upstream = plan.Route.Upstream;
        var now = ask with { MaxWaitMs = 0 };
        var tenantAnswer = answers.Find(a => a.Kind == SubjectKind.Tenant);
        if (answers.Count > 0 && answers[0].Kind == SubjectKind.Token)
        {
            var waited = answers[0];
            var name = TokenKeys.Parse(waited.Id).Token;
            if (plan.Route.Pooled.Contains(name) && plan.Tenant is not null)
            {
                var allowance = await AskAsync(new Subject(SubjectKind.Tenant, plan.Tenant, "tenant"), now);
                answers.Add(allowance);
                if (!allowance.Decision.Allowed)
                {
                    return null;
                }
            }

            return Chosen(upstream, name, waited.Decision);
        }

        SubjectAnswer? best = null;
        foreach (var name in chooser.Order(upstream, plan.Route.Dedicated))
        {
            var answer = await AskTokenAsync(upstream, name, now);
            if (answer.Decision.Allowed)
            {
                if (tenantAnswer is not null)
                {
                    // Waited at the tenant, but a dedicated token is free now: the tenant's grant goes back.
                    answers.Remove(tenantAnswer);
                    await RefundAsync([tenantAnswer], ask.LeaseNonce);
                }

                answers.Add(answer);
                return Chosen(upstream, name, answer.Decision);
            }

            best = Sooner(best, answer);
        }

        if (plan.Route.Pooled.Length > 0)
        {
            if (plan.Tenant is not null && tenantAnswer is null)
            {
                tenantAnswer = await AskAsync(new Subject(SubjectKind.Tenant, plan.Tenant, "tenant"), now);
                answers.Add(tenantAnswer);
                if (!tenantAnswer.Decision.Allowed)
                {
                    return null;
                }
            }

            foreach (var name in chooser.Order(upstream, plan.Route.Pooled))
            {
                var answer = await AskTokenAsync(upstream, name, now);
                if (answer.Decision.Allowed)
                {
                    answers.Add(answer);
                    return Chosen(upstream, name, answer.Decision);
                }

                best = Sooner(best, answer);
            }
        }

        answers.Add(best!);
        return null;
    }

    private async Task<SubjectAnswer> AskAsync(Subject subject, SubjectAcquire ask) =>
        new(subject.Kind, subject.Id, subject.Field, await Grain(subject).AcquireAsync(ask, CancellationToken.None));

    private async Task<SubjectAnswer> AskTokenAsync(string upstream, string token, SubjectAcquire ask)
    {
        var answer = await AskAsync(new Subject(SubjectKind.Token, TokenKeys.Key(upstream, token), "upstream"), ask);
        chooser.Observe(answer.Id, answer.Decision);
        return answer;
    }

    /// <summary>Of two token denials, the one to report: an unknown token or one that can never admit the cost last, then the sooner retry.</summary>
    private static SubjectAnswer Sooner(SubjectAnswer? best, SubjectAnswer answer)
    {
        static int Rank(SubjectAnswer a) => a.Decision.Outcome == DecisionOutcome.Denied ? 0 : 1;
        return best is null || Rank(answer) < Rank(best) || (Rank(answer) == Rank(best) && answer.Decision.RetryAfter < best.Decision.RetryAfter)
            ? answer
            : best;
    }

    private static UpstreamToken Chosen(string upstream, string token, SubjectDecision decision) =>
        new() { Id = token, Upstream = upstream, Secret = decision.Secret };

    /// <summary>Refunds every subject that granted; answers the answers with those subjects' states after the refund.</summary>
    private async Task<List<SubjectAnswer>> RefundAsync(List<SubjectAnswer> answers, string? leaseNonce)
    {
        var refunds = answers
            .Select(a => a.Decision.Allowed && a.Decision.Grants.Length > 0
                ? DecisionResults.Grain(grains, a.Kind, a.Id).RefundAsync(a.Decision.Grants, leaseNonce)
                : null)
            .ToArray();
        await Task.WhenAll(refunds.OfType<Task<PolicyReading[]>>());
        return [.. answers.Select((a, i) => refunds[i] is { } refund
            ? a with { Decision = a.Decision with { Policies = refund.Result } }
            : a)];
    }

    private ISubjectGrain Grain(Subject subject) => DecisionResults.Grain(grains, subject.Kind, subject.Id);

    private sealed record Subject(SubjectKind Kind, string Id, string Field);

    /// <summary>The tokens a request may use and the tenant whose allowance the pooled ones count against.</summary>
    private sealed record TokenPlan(TokenRoute Route, string? Tenant);
}
