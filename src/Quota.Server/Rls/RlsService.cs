using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Client;
using Quota.Grains.Rls;
using Quota.Server.Http;
using Quota.Server.Rls.Protocol;
using Code = Quota.Server.Rls.Protocol.RateLimitResponse.Types.Code;
using ProtoRateLimit = Quota.Server.Rls.Protocol.RateLimitResponse.Types.RateLimit;

namespace Quota.Server.Rls;

/// <summary>
/// Envoy's <c>envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit</c> over Quota's subjects. Each descriptor
/// is matched to at most one limit of its domain (<see cref="DomainRules.Match"/>, or the request's <c>limit</c>
/// override), and each matched limit is a resource subject (<c>rls:{hash}:{domain}:{entries}</c>, one per distinct
/// entry values). Every enforced descriptor of a request is decided all or nothing through the decision path the HTTP
/// API uses: a request over one limit consumes nothing from the others. A descriptor in shadow mode (its rule's, or
/// <see cref="RlsOptions.ShadowMode"/>) is decided on its own, counted, and never denies.
/// </summary>
/// <remarks>
/// An unknown domain, or a descriptor no rule matches, is OK with no limit (as Envoy expects). A request's
/// <c>hits_addend</c> of 0 means 1, as in Envoy's protocol; a descriptor's own <c>hits_addend</c> of 0 checks without
/// consuming. A cluster that cannot decide (a silo failing over, storage unreachable, the silo shedding) is gRPC
/// <c>UNAVAILABLE</c>, so Envoy's <c>failure_mode_deny</c> decides; a malformed request is <c>INVALID_ARGUMENT</c>
/// saying what to fix.
/// </remarks>
internal sealed partial class RlsService(
    IQuotaClient quota,
    DomainCatalog catalog,
    DescriptorPolicyBook book,
    RlsInstruments instruments,
    IOptions<RlsOptions> options,
    ILogger<RlsService> logger) : RateLimitService.RateLimitServiceBase
{
    /// <summary>At most this many descriptors in one request (the decision path's bound on subjects).</summary>
    public const int MaxDescriptors = RequestRules.MaxResources;

    /// <summary>At most this many entries in one descriptor (the configuration's depth).</summary>
    public const int MaxEntries = DomainRules.MaxDepth;

    private readonly RlsOptions _options = options.Value;

    /// <inheritdoc />
    public override async Task<RateLimitResponse> ShouldRateLimit(RateLimitRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (Check(request) is { } problem)
        {
            instruments.Answered("invalid_argument");
            throw new RpcException(new Status(StatusCode.InvalidArgument, problem));
        }

        try
        {
            var response = await DecideAsync(request, context.CancellationToken);
            instruments.Answered(response.OverallCode == Code.OverLimit ? "over_limit" : "ok");
            return response;
        }
        catch (Exception e) when (e is not RpcException && Failures.Classify(e).Status == 503)
        {
            LogUnavailable(logger, request.Domain, e.GetType().Name, e);
            instruments.Answered("unavailable");
            throw new RpcException(new Status(StatusCode.Unavailable, "The cluster cannot decide now (a silo may be failing over, or storage is unreachable); retry shortly."));
        }
    }

    /// <summary>What is wrong with a request, saying what to fix; null when it can be decided.</summary>
    internal static string? Check(RateLimitRequest request)
    {
        if (string.IsNullOrEmpty(request.Domain))
        {
            return "domain is empty; set domain in Envoy's rate_limit filter to a domain configured in Quota (domains: in apply, or PUT /v1/admin/domains/{domain}).";
        }

        var names = new List<FieldProblem>();
        RequestRules.CheckName(names, "domain", request.Domain);
        if (names.Count > 0)
        {
            return $"{names[0].Field} {names[0].Detail}";
        }

        if (request.Descriptors.Count == 0)
        {
            return "descriptors is empty; send at least one descriptor (Envoy's rate_limit actions make them).";
        }

        if (request.Descriptors.Count > MaxDescriptors)
        {
            return $"descriptors has {request.Descriptors.Count} descriptors; at most {MaxDescriptors} are decided in one request.";
        }

        for (var i = 0; i < request.Descriptors.Count; i++)
        {
            var descriptor = request.Descriptors[i];
            if (descriptor.Entries.Count == 0)
            {
                return $"descriptors[{i}].entries is empty; a descriptor needs at least one entry (key and value).";
            }

            if (descriptor.Entries.Count > MaxEntries)
            {
                return $"descriptors[{i}].entries has {descriptor.Entries.Count} entries; at most {MaxEntries} are matched.";
            }

            for (var j = 0; j < descriptor.Entries.Count; j++)
            {
                if (string.IsNullOrEmpty(descriptor.Entries[j].Key))
                {
                    return $"descriptors[{i}].entries[{j}].key is empty; every entry needs a key.";
                }
            }

            if (descriptor.HitsAddend is > PolicyDefinition.MaxLimit)
            {
                return $"descriptors[{i}].hits_addend is {descriptor.HitsAddend}; at most {PolicyDefinition.MaxLimit}.";
            }

            if (descriptor.Limit is { } limit)
            {
                if (limit.Unit is < (int)RlsUnit.Second or > (int)RlsUnit.Week)
                {
                    return $"descriptors[{i}].limit.unit is {limit.Unit}; use SECOND, MINUTE, HOUR, DAY, WEEK, MONTH or YEAR.";
                }

                if (limit.RequestsPerUnit == 0)
                {
                    return $"descriptors[{i}].limit.requests_per_unit is 0; give at least 1.";
                }
            }
        }

        return null;
    }

    private async Task<RateLimitResponse> DecideAsync(RateLimitRequest request, CancellationToken cancellationToken)
    {
        var response = new RateLimitResponse { OverallCode = Code.Ok };
        var rules = await catalog.GetAsync(request.Domain);
        var requestHits = request.HitsAddend == 0 ? 1L : request.HitsAddend;
        var items = new Item[request.Descriptors.Count];
        for (var i = 0; i < items.Length; i++)
        {
            var descriptor = request.Descriptors[i];
            var entries = descriptor.Entries.Select(e => (e.Key, e.Value)).ToList();
            var hits = descriptor.HitsAddend is { } own ? (long)own : requestHits;
            DescriptorLimit? limit = null;
            if (rules is not null)
            {
                var matched = rules.Match(entries);
                limit = descriptor.Limit is { } o
                    ? DescriptorLimit.Override(matched?.Label ?? "override", (RlsUnit)o.Unit, o.RequestsPerUnit)
                    : matched;
            }

            items[i] = new Item(limit, entries, hits);
        }

        // A named limit that another matched limit replaces does not apply to this request.
        var replaced = items.SelectMany(x => x.Limit?.Replaces ?? []).ToHashSet(StringComparer.Ordinal);
        foreach (var item in items)
        {
            if (item.Limit?.Name is { } name && replaced.Contains(name) && !item.Limit.Replaces.Contains(name))
            {
                item.Limit = null;
            }

            if (item.Limit is { Unlimited: false } limit)
            {
                var path = string.Join('/', item.Entries.Select(e => $"{e.Key}={e.Value}"));
                item.Subject = DescriptorPolicyBook.SubjectName(limit.Hash, request.Domain, path);
                item.Shadow = limit.Shadow || _options.ShadowMode;
                await book.EnsureAsync(limit.Hash, limit.Policies);
            }
        }

        var enforced = items.Where(x => x.Subject is not null && !x.Shadow).ToList();
        var shadowed = items.Where(x => x.Subject is not null && x.Shadow).ToList();
        var shadowTasks = shadowed.Select(x => AcquireAsync([x], x.Hits, reserve: false, cancellationToken)).ToArray();
        long retryAfterMs = 0;
        if (enforced.Count > 0)
        {
            retryAfterMs = await DecideTogetherAsync(enforced, cancellationToken);
        }

        for (var s = 0; s < shadowed.Count; s++)
        {
            Read(shadowed[s], await shadowTasks[s]);
        }

        var overall = Code.Ok;
        foreach (var item in items)
        {
            response.Statuses.Add(Status(item));
            if (item.Limit is not { Unlimited: false } limit || item.State is not { } state)
            {
                continue;
            }

            var near = !item.Over && state.Remaining <= state.Limit - (long)Math.Ceiling(state.Limit * _options.NearLimitRatio);
            instruments.Decided(request.Domain, limit.Label, item.Hits, item.Over, near, item.Over && item.Shadow);
            if (item.Over && !item.Shadow)
            {
                overall = Code.OverLimit;
            }
        }

        response.OverallCode = overall;
        AddHeaders(response, request.Domain, items, overall == Code.OverLimit ? retryAfterMs : 0);
        return response;
    }

    /// <summary>
    /// Decides every enforced descriptor all or nothing. With one hits value for all (the usual case) that is one
    /// decision naming every subject. With several, each hits value is reserved in turn and, if any is refused,
    /// every reservation is settled at 0 (refunded), otherwise at its hits: still nothing consumed when one is over.
    /// Answers the retry-after of a denial (0 when admitted).
    /// </summary>
    private async Task<long> DecideTogetherAsync(List<Item> enforced, CancellationToken cancellationToken)
    {
        var groups = enforced.GroupBy(x => x.Hits).ToList();
        if (groups.Count == 1)
        {
            var result = await AcquireAsync(enforced, groups[0].Key, reserve: false, cancellationToken);
            foreach (var item in enforced)
            {
                Read(item, result);
            }

            return result.Allowed ? 0 : result.RetryAfterMs;
        }

        var decided = new List<(IGrouping<long, Item> Group, AcquireResult Result)>();
        foreach (var group in groups)
        {
            decided.Add((group, await AcquireAsync([.. group], group.Key, reserve: group.Key > 0, cancellationToken)));
        }

        var allowed = decided.TrueForAll(d => d.Result.Allowed);
        foreach (var (group, result) in decided)
        {
            if (result.LeaseId is { } lease)
            {
                await quota.SettleAsync(lease, allowed ? group.Key : 0, CancellationToken.None);
            }

            foreach (var item in group)
            {
                Read(item, result);
                if (!allowed && result.Allowed && item.State is { } state)
                {
                    // Refunded: the state the answer reports is the one after the refund.
                    item.State = state with { Remaining = Math.Min(state.Limit, state.Remaining + group.Key) };
                }
            }
        }

        return allowed ? 0 : decided.Where(d => !d.Result.Allowed).Max(d => d.Result.RetryAfterMs);
    }

    private async Task<AcquireResult> AcquireAsync(IReadOnlyList<Item> items, long hits, bool reserve, CancellationToken cancellationToken)
    {
        var result = await quota.AcquireAsync(
            new AcquireRequest { Resources = [.. items.Select(x => x.Subject!).Distinct(StringComparer.Ordinal)], Cost = hits, Reserve = reserve },
            cancellationToken);
        return result.Outcome switch
        {
            DecisionOutcome.Invalid => throw new RpcException(new Status(StatusCode.InvalidArgument, $"{result.Problem?.Field}: {result.Problem?.Detail}")),
            DecisionOutcome.Overloaded => throw new RpcException(new Status(StatusCode.Unavailable, "The silo is at its ceiling of work or active subjects and shed the request; nothing was consumed. Retry shortly.")),
            DecisionOutcome.UnknownSubject => throw new RpcException(new Status(StatusCode.Unavailable, "A descriptor's policies could not be read (the configuration is changing); retry shortly.")),
            _ => result,
        };
    }

    /// <summary>Takes the item's state and whether it was over from a decision that named it.</summary>
    private static void Read(Item item, AcquireResult result)
    {
        var label = SubjectNames.Label(SubjectKind.Resource, item.Subject!);
        item.State = Array.Find(result.Policies, p => p.Subject == label);
        item.Over = !result.Allowed && (result.LimitedBy?.StartsWith(label + "/", StringComparison.Ordinal) == true
            || (item.State is { } state && state.Remaining < Math.Max(item.Hits, 1)));
    }

    private static RateLimitResponse.Types.DescriptorStatus Status(Item item)
    {
        var status = new RateLimitResponse.Types.DescriptorStatus { Code = Code.Ok };
        if (item.Limit is not { Unlimited: false } limit)
        {
            return status;
        }

        status.Code = item.Over && !item.Shadow ? Code.OverLimit : Code.Ok;
        status.CurrentLimit = new ProtoRateLimit
        {
            Name = limit.Name ?? string.Empty,
            RequestsPerUnit = (uint)Math.Min(limit.RequestsPerUnit, uint.MaxValue),
            Unit = (ProtoRateLimit.Types.Unit)limit.Unit,
        };
        if (item.State is { } state)
        {
            status.LimitRemaining = item.Over ? 0 : (uint)Math.Clamp(state.Remaining, 0, uint.MaxValue);
            status.DurationUntilReset = Duration.FromTimeSpan(TimeSpan.FromMilliseconds(state.ResetAfterMs));
        }

        return status;
    }

    /// <summary>
    /// IETF <c>RateLimit-Policy</c> and <c>RateLimit</c> for the enforced descriptor closest to its limit (the least
    /// share left), named <c>{domain}:{rule}</c>, and <c>Retry-After</c> when the request is over.
    /// </summary>
    private static void AddHeaders(RateLimitResponse response, string domain, Item[] items, long retryAfterMs)
    {
        var closest = items
            .Where(x => x.State is not null && !x.Shadow)
            .OrderByDescending(x => x.Over)
            .ThenBy(x => (double)x.State!.Remaining / Math.Max(1, x.State.Limit))
            .FirstOrDefault();
        if (closest is null)
        {
            return;
        }

        PolicyState[] state = [closest.State! with { Subject = $"{domain}:{closest.Limit!.Label}", Remaining = closest.Over ? 0 : closest.State!.Remaining }];
        Add(response, RateLimitFields.PolicyHeader, RateLimitFields.Policy(state));
        Add(response, RateLimitFields.StateHeader, RateLimitFields.State(state));
        Add(response, "Retry-After", RateLimitFields.RetryAfter(retryAfterMs));
    }

    private static void Add(RateLimitResponse response, string key, string? value)
    {
        if (value is not null)
        {
            response.ResponseHeadersToAdd.Add(new RateLimitResponse.Types.HeaderValue { Key = key, Value = value });
        }
    }

    /// <summary>One descriptor of a request on its way to an answer.</summary>
    private sealed class Item(DescriptorLimit? limit, List<(string Key, string Value)> entries, long hits)
    {
        public DescriptorLimit? Limit { get; set; } = limit;

        public List<(string Key, string Value)> Entries { get; } = entries;

        public long Hits { get; } = hits;

        public string? Subject { get; set; }

        public bool Shadow { get; set; }

        public PolicyState? State { get; set; }

        public bool Over { get; set; }
    }
}
