using System.Globalization;
using System.Text.Json.Serialization;
using Quota.Algorithms.Limiting;

namespace Quota.Abstractions;

/// <summary>
/// A policy as it travels and as it is written in configuration and JSON:
/// <c>{ "name": "per-minute", "algorithm": "sliding-window", "limit": 100, "window": "00:01:00" }</c>.
/// Convert with <see cref="ToDefinition"/>, which reports every problem at once.
/// </summary>
[GenerateSerializer, Immutable, Alias("quota.PolicySpec")]
public sealed record PolicySpec
{
    /// <summary>Unique on its subject, e.g. <c>per-minute</c>.</summary>
    [Id(0)] public string? Name { get; init; }

    /// <summary><c>token-bucket</c>, <c>sliding-window</c>, <c>sliding-log</c>, <c>fixed-window</c>, <c>concurrency</c> or <c>calendar</c>.</summary>
    [Id(1)] public string? Algorithm { get; init; }

    /// <summary>Permits per window, per period, or held at once.</summary>
    [Id(2)] public long Limit { get; init; }

    /// <summary>Window for token-bucket (refill period), sliding and fixed windows.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [Id(3)] public TimeSpan? Window { get; init; }

    /// <summary>Token-bucket capacity. Default: the limit.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [Id(4)] public long? Burst { get; init; }

    /// <summary>Calendar period: <c>day</c>, <c>week</c> or <c>month</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [Id(5)] public string? Period { get; init; }

    /// <summary>IANA time zone of a calendar quota. Default: UTC.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [Id(6)] public string? TimeZone { get; init; }

    /// <summary>Lease TTL of a concurrency policy. Default: 1 minute.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    [Id(7)] public TimeSpan? LeaseTtl { get; init; }

    /// <summary>The kebab-case names of the algorithms, as written in JSON.</summary>
    public static readonly IReadOnlyDictionary<string, AlgorithmKind> Algorithms = new Dictionary<string, AlgorithmKind>(StringComparer.OrdinalIgnoreCase)
    {
        ["token-bucket"] = AlgorithmKind.TokenBucket,
        ["sliding-window"] = AlgorithmKind.SlidingWindow,
        ["sliding-log"] = AlgorithmKind.SlidingLog,
        ["fixed-window"] = AlgorithmKind.FixedWindow,
        ["concurrency"] = AlgorithmKind.Concurrency,
        ["calendar"] = AlgorithmKind.Calendar,
    };

    /// <summary>The JSON name of an algorithm.</summary>
    public static string AlgorithmName(AlgorithmKind kind) => kind switch
    {
        AlgorithmKind.TokenBucket => "token-bucket",
        AlgorithmKind.SlidingWindow => "sliding-window",
        AlgorithmKind.SlidingLog => "sliding-log",
        AlgorithmKind.FixedWindow => "fixed-window",
        AlgorithmKind.Concurrency => "concurrency",
        AlgorithmKind.Calendar => "calendar",
        _ => kind.ToString(),
    };

    /// <summary>
    /// Converts to a validated definition, or returns null with <paramref name="errors"/> listing every problem,
    /// each naming its field under <paramref name="path"/> (e.g. <c>policies[0].limit</c>).
    /// </summary>
    public PolicyDefinition? ToDefinition(string path, out IReadOnlyList<FieldProblem> errors)
    {
        var problems = new List<FieldProblem>();
        if (Algorithm is null || !Algorithms.TryGetValue(Algorithm, out var kind))
        {
            problems.Add(new($"{path}.algorithm", $"'{Algorithm}' is not an algorithm; use one of {string.Join(", ", Algorithms.Keys)}."));
            errors = problems;
            return null;
        }

        CalendarPeriod? period = null;
        if (Period is not null)
        {
            if (Enum.TryParse<CalendarPeriod>(Period, ignoreCase: true, out var parsed) && !int.TryParse(Period, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
            {
                period = parsed;
            }
            else
            {
                problems.Add(new($"{path}.period", $"'{Period}' is not a period; use day, week or month."));
            }
        }

        var definition = new PolicyDefinition
        {
            Name = Name ?? string.Empty,
            Algorithm = kind,
            Limit = Limit,
            Window = Window ?? TimeSpan.Zero,
            Burst = Burst,
            Period = period,
            TimeZone = TimeZone ?? "UTC",
            LeaseTtl = LeaseTtl ?? TimeSpan.FromMinutes(1),
        };
        foreach (var problem in definition.Problems())
        {
            // A period that could not be read is already reported; "needs a period" would repeat it.
            if (period is null && Period is not null && problem.Field == "period")
            {
                continue;
            }

            problems.Add(new($"{path}.{problem.Field}", problem.Detail));
        }

        errors = problems;
        return problems.Count == 0 ? definition : null;
    }

    /// <summary>The wire form of a definition.</summary>
    public static PolicySpec From(PolicyDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        return new PolicySpec
        {
            Name = definition.Name,
            Algorithm = AlgorithmName(definition.Algorithm),
            Limit = definition.Limit,
            Window = definition.Algorithm is AlgorithmKind.Calendar or AlgorithmKind.Concurrency ? null : definition.Window,
            Burst = definition.Algorithm == AlgorithmKind.TokenBucket ? definition.Burst ?? definition.Limit : null,
            Period = definition.Period?.ToString().ToLowerInvariant(),
            TimeZone = definition.Algorithm == AlgorithmKind.Calendar ? definition.TimeZone : null,
            LeaseTtl = definition.Algorithm == AlgorithmKind.Concurrency ? definition.LeaseTtl : null,
        };
    }

    /// <summary>Throws <see cref="ArgumentException"/> listing every problem when <paramref name="specs"/> is not a valid policy list.</summary>
    public static void ThrowIfInvalid(IReadOnlyList<PolicySpec>? specs, string path)
    {
        if (ToDefinitions(specs, path, out var errors) is null)
        {
            throw new ArgumentException(string.Join(" ", errors.Select(e => e.ToString())), nameof(specs));
        }
    }

    /// <summary>
    /// Converts a subject's whole policy list: every problem of every policy, plus duplicate names, or the definitions.
    /// </summary>
    public static IReadOnlyList<PolicyDefinition>? ToDefinitions(IReadOnlyList<PolicySpec>? specs, string path, out IReadOnlyList<FieldProblem> errors)
    {
        var problems = new List<FieldProblem>();
        var result = new List<PolicyDefinition>();
        if (specs is null || specs.Count == 0)
        {
            problems.Add(new(path, "at least one policy is required."));
            errors = problems;
            return null;
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < specs.Count; i++)
        {
            var itemPath = $"{path}[{i}]";
            if (specs[i] is not { } spec)
            {
                problems.Add(new(itemPath, "a policy is required here."));
                continue;
            }

            var definition = spec.ToDefinition(itemPath, out var itemErrors);
            problems.AddRange(itemErrors);

            // Names are compared whether or not the policies are otherwise valid, so every problem shows at once.
            if (!string.IsNullOrEmpty(spec.Name) && !names.Add(spec.Name))
            {
                problems.Add(new($"{itemPath}.name", $"'{spec.Name}' is used twice; policy names must be unique on a subject."));
            }

            if (definition is not null)
            {
                result.Add(definition);
            }
        }

        errors = problems;
        return problems.Count == 0 ? result : null;
    }
}
