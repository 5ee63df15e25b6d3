using System.Text.Json;
using System.Text.Json.Serialization;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Rls;

namespace Quota.Server.Rls;

/// <summary>
/// One domain's descriptor configuration, in envoy-ratelimit's shape:
/// <c>{ "descriptors": [ { "key", "value", "rate_limit": { "unit", "requests_per_unit", "name", "unlimited" },
/// "descriptors": [...], "shadow_mode", "replaces": [ { "name" } ], "policy": POLICY } ] }</c>.
/// </summary>
public sealed class DomainBody
{
    /// <summary>The top-level descriptors; required, at least one.</summary>
    [JsonPropertyName("descriptors")] public List<DescriptorBody?>? Descriptors { get; set; }
}

/// <summary>One descriptor rule: a key, an optional value (exact, or a prefix ending in <c>*</c>), a limit and/or nested rules.</summary>
public sealed class DescriptorBody
{
    /// <summary>The descriptor key to match; required.</summary>
    [JsonPropertyName("key")] public string? Key { get; set; }

    /// <summary>The value to match: exact, or a prefix ending in <c>*</c>; omitted: any value, each value counted apart.</summary>
    [JsonPropertyName("value")] public string? Value { get; set; }

    /// <summary>envoy-ratelimit's limit: a fixed window per unit (Quota: calendar day, week and month in UTC).</summary>
    [JsonPropertyName("rate_limit")] public RateLimitBody? RateLimit { get; set; }

    /// <summary>Instead of <see cref="RateLimit"/>: one Quota policy (any algorithm but concurrency).</summary>
    [JsonPropertyName("policy")] public PolicySpec? Policy { get; set; }

    /// <summary>Nested rules, matched against the request descriptor's next entry.</summary>
    [JsonPropertyName("descriptors")] public List<DescriptorBody?>? Descriptors { get; set; }

    /// <summary>Counted, never denies. Default: false.</summary>
    [JsonPropertyName("shadow_mode")] public bool? ShadowMode { get; set; }

    /// <summary>Named limits this one replaces when both match one request.</summary>
    [JsonPropertyName("replaces")] public List<ReplacesBody?>? Replaces { get; set; }
}

/// <summary>envoy-ratelimit's <c>rate_limit</c>.</summary>
public sealed class RateLimitBody
{
    /// <summary><c>second</c>, <c>minute</c>, <c>hour</c>, <c>day</c>, <c>week</c>, <c>month</c> or <c>year</c>.</summary>
    [JsonPropertyName("unit")] public string? Unit { get; set; }

    /// <summary>Requests per unit, 1 to 10^12.</summary>
    [JsonPropertyName("requests_per_unit")] public long? RequestsPerUnit { get; set; }

    /// <summary>The limit's name (for <c>replaces</c> and metrics).</summary>
    [JsonPropertyName("name")] public string? Name { get; set; }

    /// <summary>No limit: matching requests are never limited (and nothing is counted).</summary>
    [JsonPropertyName("unlimited")] public bool? Unlimited { get; set; }
}

/// <summary>A <c>replaces</c> entry.</summary>
public sealed class ReplacesBody
{
    /// <summary>The replaced limit's name.</summary>
    [JsonPropertyName("name")] public string? Name { get; set; }
}

/// <summary>A unit of envoy's protocol (the numbers of <c>RateLimitResponse.RateLimit.Unit</c>).</summary>
internal enum RlsUnit
{
    Unknown = 0,
    Second = 1,
    Minute = 2,
    Hour = 3,
    Day = 4,
    Month = 5,
    Year = 6,
    Week = 7,
}

/// <summary>A matched limit: its label for metrics, its policies (and their hash), how it reports itself to Envoy.</summary>
/// <param name="Label">The rule's <c>name</c>, else its configured path (<c>key=value/key</c>): bounded by the configuration.</param>
/// <param name="Name">The rule's name, for <c>replaces</c> and the status's <c>current_limit.name</c>; null when unnamed.</param>
/// <param name="Policies">One policy; empty when unlimited.</param>
/// <param name="Hash">The policies' content hash (<see cref="DescriptorPolicyBook.HashOf"/>).</param>
/// <param name="Unit">The unit reported in <c>current_limit</c>.</param>
/// <param name="RequestsPerUnit">The limit reported in <c>current_limit</c>.</param>
/// <param name="Shadow">Counted, never denies.</param>
/// <param name="Replaces">Names of limits this one replaces.</param>
internal sealed record DescriptorLimit(string Label, string? Name, PolicySpec[] Policies, string Hash, RlsUnit Unit, long RequestsPerUnit, bool Shadow, string[] Replaces)
{
    public bool Unlimited => Policies.Length == 0;

    /// <summary>The limit a request's <c>limit</c> override asks for, counted apart from the configured one.</summary>
    public static DescriptorLimit Override(string label, RlsUnit unit, long requestsPerUnit)
    {
        // Never stored: the subject's name carries the override itself (DescriptorPolicyBook.OverrideHash).
        var policies = new[] { DomainRules.PolicyFor(unit, requestsPerUnit, "override") };
        return new DescriptorLimit(label, null, policies, DescriptorPolicyBook.OverrideHash((int)unit, requestsPerUnit), unit, requestsPerUnit, false, []);
    }
}

/// <summary>One node of a domain's rule tree.</summary>
internal sealed class RuleNode(string key, string? value, DescriptorLimit? limit, RuleNode[] children)
{
    public string Key { get; } = key;

    /// <summary>Null: any value; ending in <c>*</c>: a prefix; else exact.</summary>
    public string? Value { get; } = value;

    public DescriptorLimit? Limit { get; } = limit;

    public RuleNode[] Children { get; } = children;

    public bool IsWildcard => Value is { } v && v.EndsWith('*');
}

/// <summary>
/// A domain's validated, compiled rules, and the matching of a request descriptor to at most one limit: at each level
/// the entry's exact key and value first, then the longest wildcard prefix, then the bare key; the limit is the one of
/// the rule reached by the descriptor's last entry (a descriptor longer or shorter than the configuration has none).
/// </summary>
internal sealed class DomainRules
{
    /// <summary>At most this many rules in one domain.</summary>
    public const int MaxRules = 1000;

    /// <summary>At most this deep.</summary>
    public const int MaxDepth = 8;

    /// <summary>The units a <c>rate_limit</c> may name.</summary>
    public static readonly IReadOnlyDictionary<string, RlsUnit> Units = new Dictionary<string, RlsUnit>(StringComparer.Ordinal)
    {
        ["second"] = RlsUnit.Second,
        ["minute"] = RlsUnit.Minute,
        ["hour"] = RlsUnit.Hour,
        ["day"] = RlsUnit.Day,
        ["week"] = RlsUnit.Week,
        ["month"] = RlsUnit.Month,
        ["year"] = RlsUnit.Year,
    };

    /// <summary>Reads and writes a domain's document as stored and echoed.</summary>
    public static readonly JsonSerializerOptions Json = new(Http.HttpJson.StrictOptions)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private DomainRules(string domain, RuleNode[] roots)
    {
        Domain = domain;
        Roots = roots;
    }

    public string Domain { get; }

    public RuleNode[] Roots { get; }

    /// <summary>Every problem of <paramref name="body"/>, each named under <paramref name="path"/>.</summary>
    public static List<FieldProblem> Validate(string domain, DomainBody? body, string path)
    {
        var problems = new List<FieldProblem>();
        var domainField = path.Length == 0 ? "domain" : path;
        if (string.IsNullOrEmpty(domain))
        {
            problems.Add(new(domainField, "a domain needs a name, as Envoy's rate_limit filter sends it (domain: ...)."));
        }
        else
        {
            RequestRules.CheckName(problems, domainField, domain);
        }

        var prefix = path.Length == 0 ? string.Empty : path + ".";
        if (body?.Descriptors is not { Count: > 0 } descriptors)
        {
            problems.Add(new($"{prefix}descriptors", "is required: at least one descriptor rule ({ key: ..., rate_limit: { unit: minute, requests_per_unit: 10 } })."));
            return problems;
        }

        var count = 0;
        var names = new HashSet<string>(StringComparer.Ordinal);
        CheckLevel(descriptors, $"{prefix}descriptors", 1, problems, ref count, names);
        if (count > MaxRules)
        {
            problems.Add(new($"{prefix}descriptors", $"has {count} rules; at most {MaxRules} are allowed in one domain."));
        }

        return problems;
    }

    private static void CheckLevel(List<DescriptorBody?> level, string path, int depth, List<FieldProblem> problems, ref int count, HashSet<string> names)
    {
        if (depth > MaxDepth)
        {
            problems.Add(new(path, $"is nested {depth} levels deep; at most {MaxDepth} are allowed."));
            return;
        }

        var seen = new HashSet<(string?, string?)>();
        for (var i = 0; i < level.Count; i++)
        {
            var at = $"{path}[{i}]";
            count++;
            if (count > MaxRules + 1)
            {
                return;
            }

            if (level[i] is not { } rule)
            {
                problems.Add(new(at, "a descriptor rule is required here ({ key: ... })."));
                continue;
            }

            if (string.IsNullOrEmpty(rule.Key))
            {
                problems.Add(new($"{at}.key", "is required: the descriptor key to match, e.g. remote_address."));
            }
            else
            {
                RequestRules.CheckName(problems, $"{at}.key", rule.Key);
            }

            if (rule.Value is { } value)
            {
                RequestRules.CheckName(problems, $"{at}.value", value);
                if (value.IndexOf('*', StringComparison.Ordinal) is var star && star >= 0 && star != value.Length - 1)
                {
                    problems.Add(new($"{at}.value", "may hold '*' only at its end (a prefix wildcard, e.g. 'api/*'); omit value to match any value."));
                }
            }

            if (!seen.Add((rule.Key, rule.Value)))
            {
                problems.Add(new($"{at}.key", $"'{rule.Key}'{(rule.Value is null ? string.Empty : $" with value '{rule.Value}'")} is already a rule at this level; merge the two."));
            }

            CheckLimit(rule, at, problems, names);
            if (rule.Descriptors is { } children)
            {
                if (children.Count == 0)
                {
                    problems.Add(new($"{at}.descriptors", "is empty; omit it or add rules."));
                }

                CheckLevel(children, $"{at}.descriptors", depth + 1, problems, ref count, names);
            }
            else if (rule.RateLimit is null && rule.Policy is null)
            {
                problems.Add(new(at, "a rule without nested descriptors needs a rate_limit or a policy."));
            }
        }
    }

    private static void CheckLimit(DescriptorBody rule, string at, List<FieldProblem> problems, HashSet<string> names)
    {
        if (rule.RateLimit is not null && rule.Policy is not null)
        {
            problems.Add(new($"{at}.policy", "give either rate_limit (envoy-ratelimit's) or policy (a Quota policy), not both."));
        }

        if (rule.RateLimit is { } limit)
        {
            if (limit.Name is { } name)
            {
                RequestRules.CheckName(problems, $"{at}.rate_limit.name", name);
                if (!names.Add(name))
                {
                    problems.Add(new($"{at}.rate_limit.name", $"'{name}' names another limit of this domain already; names must be unique (replaces refers to them)."));
                }
            }

            if (limit.Unlimited == true)
            {
                if (limit.Unit is not null || limit.RequestsPerUnit is not null)
                {
                    problems.Add(new($"{at}.rate_limit.unlimited", "an unlimited rule has no unit or requests_per_unit; remove them or unlimited."));
                }
            }
            else
            {
                if (limit.Unit is null || !Units.ContainsKey(limit.Unit))
                {
                    problems.Add(new($"{at}.rate_limit.unit", $"{(limit.Unit is null ? "is required" : $"'{limit.Unit}' is not a unit")}; use second, minute, hour, day, week, month or year."));
                }

                if (limit.RequestsPerUnit is not { } perUnit || perUnit < 1 || perUnit > PolicyDefinition.MaxLimit)
                {
                    problems.Add(new($"{at}.rate_limit.requests_per_unit", $"{(limit.RequestsPerUnit is null ? "is required" : $"is {limit.RequestsPerUnit}")}; use a whole number from 1 to {PolicyDefinition.MaxLimit}."));
                }
            }
        }

        if (rule.Policy is { } policy)
        {
            problems.AddRange(Http.HttpJson.PolicyProblems([policy], $"{at}.policy").Select(p => p with { Field = p.Field.Replace($"{at}.policy[0]", $"{at}.policy", StringComparison.Ordinal) }));
            if (PolicySpec.Algorithms.TryGetValue(policy.Algorithm ?? string.Empty, out var kind) && kind == AlgorithmKind.Concurrency)
            {
                problems.Add(new($"{at}.policy.algorithm", "concurrency needs a release Envoy never sends; use token-bucket, sliding-window, sliding-log, fixed-window or calendar."));
            }
        }

        if (rule.ShadowMode == true && rule.RateLimit is null && rule.Policy is null)
        {
            problems.Add(new($"{at}.shadow_mode", "applies to a limit; add rate_limit or policy, or remove shadow_mode."));
        }

        for (var r = 0; r < (rule.Replaces?.Count ?? 0); r++)
        {
            if (rule.Replaces![r]?.Name is not { } replaced)
            {
                problems.Add(new($"{at}.replaces[{r}].name", "is required: the name of a limit this one replaces."));
            }
            else
            {
                RequestRules.CheckName(problems, $"{at}.replaces[{r}].name", replaced);
            }
        }
    }

    /// <summary>Compiles a document <see cref="Validate"/> found no problem with.</summary>
    public static DomainRules Compile(string domain, DomainBody body) =>
        new(domain, [.. body.Descriptors!.Select(d => CompileNode(d!, string.Empty))]);

    private static RuleNode CompileNode(DescriptorBody rule, string parentPath)
    {
        var path = parentPath.Length == 0 ? Step(rule) : $"{parentPath}/{Step(rule)}";
        DescriptorLimit? limit = null;
        if (rule.RateLimit is { } rate)
        {
            var label = rate.Name ?? path;
            var replaces = rule.Replaces?.Select(r => r!.Name!).ToArray() ?? [];
            if (rate.Unlimited == true)
            {
                limit = new DescriptorLimit(label, rate.Name, [], string.Empty, RlsUnit.Unknown, 0, false, replaces);
            }
            else
            {
                var unit = Units[rate.Unit!];
                PolicySpec[] policies = [PolicyFor(unit, rate.RequestsPerUnit!.Value, rate.Name ?? "rate_limit")];
                limit = new DescriptorLimit(label, rate.Name, policies, DescriptorPolicyBook.HashOf(policies), unit, rate.RequestsPerUnit.Value, rule.ShadowMode == true, replaces);
            }
        }
        else if (rule.Policy is { } policy)
        {
            PolicySpec[] policies = [PolicySpec.From(PolicySpec.ToDefinitions([policy], "policy", out _)![0])];
            limit = new DescriptorLimit(path, null, policies, DescriptorPolicyBook.HashOf(policies), UnitOf(policies[0]), policies[0].Limit, rule.ShadowMode == true, rule.Replaces?.Select(r => r!.Name!).ToArray() ?? []);
        }

        return new RuleNode(rule.Key!, rule.Value, limit, [.. (rule.Descriptors ?? []).Select(d => CompileNode(d!, path))]);
    }

    private static string Step(DescriptorBody rule) => rule.Value is null ? rule.Key! : $"{rule.Key}={rule.Value}";

    /// <summary>
    /// The Quota policy for envoy's <paramref name="unit"/>: a fixed window of a second, minute or hour; a calendar day,
    /// week (from Monday) or month in UTC (envoy-ratelimit's month is 30 days); a year as a 365-day fixed window.
    /// </summary>
    public static PolicySpec PolicyFor(RlsUnit unit, long requestsPerUnit, string name) => DescriptorPolicyBook.UnitPolicy((int)unit, requestsPerUnit, name);

    private static RlsUnit UnitOf(PolicySpec policy) => (policy.Period, policy.Window) switch
    {
        ("day", _) => RlsUnit.Day,
        ("week", _) => RlsUnit.Week,
        ("month", _) => RlsUnit.Month,
        (_, { } w) when w == TimeSpan.FromSeconds(1) => RlsUnit.Second,
        (_, { } w) when w == TimeSpan.FromMinutes(1) => RlsUnit.Minute,
        (_, { } w) when w == TimeSpan.FromHours(1) => RlsUnit.Hour,
        (_, { } w) when w == TimeSpan.FromDays(1) => RlsUnit.Day,
        _ => RlsUnit.Unknown,
    };

    /// <summary>The limit for a descriptor's entries (key, value); null when no rule's limit matches it exactly.</summary>
    public DescriptorLimit? Match(IReadOnlyList<(string Key, string Value)> entries)
    {
        var level = Roots;
        for (var i = 0; i < entries.Count; i++)
        {
            var (key, value) = entries[i];
            RuleNode? exact = null, wildcard = null, bare = null;
            foreach (var node in level)
            {
                if (node.Key != key)
                {
                    continue;
                }

                if (node.Value is null)
                {
                    bare = node;
                }
                else if (node.IsWildcard)
                {
                    if (value.StartsWith(node.Value[..^1], StringComparison.Ordinal) && (wildcard is null || node.Value.Length > wildcard.Value!.Length))
                    {
                        wildcard = node;
                    }
                }
                else if (node.Value == value)
                {
                    exact = node;
                }
            }

            if ((exact ?? wildcard ?? bare) is not { } found)
            {
                return null;
            }

            if (i == entries.Count - 1)
            {
                return found.Limit;
            }

            level = found.Children;
        }

        return null;
    }
}
