using System.Text.Json;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Storage;

namespace Quota.Grains.Configuration;

/// <summary>
/// The configured default policies of every kind of subject, validated once at start. Resolves a subject to its
/// defaults: users and keys share one list each; a resource takes its exact entry, else the longest matching
/// pattern, else it is unknown.
/// </summary>
public sealed class PolicyCatalog
{
    private static readonly JsonSerializerOptions FileJson = new(JsonSerializerDefaults.Web)
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    private readonly IReadOnlyList<PolicyDefinition> _users;
    private readonly IReadOnlyList<PolicyDefinition> _keys;
    private readonly Dictionary<string, IReadOnlyList<PolicyDefinition>> _exact;
    private readonly List<(string Prefix, IReadOnlyList<PolicyDefinition> Policies)> _patterns;

    private PolicyCatalog(
        IReadOnlyList<PolicyDefinition> users,
        IReadOnlyList<PolicyDefinition> keys,
        Dictionary<string, IReadOnlyList<PolicyDefinition>> exact,
        List<(string, IReadOnlyList<PolicyDefinition>)> patterns)
    {
        _users = users;
        _keys = keys;
        _exact = exact;
        _patterns = patterns;
    }

    /// <summary>The built-in user policies.</summary>
    public static IReadOnlyList<PolicySpec> BuiltInUsers { get; } =
    [
        new() { Name = "per-minute", Algorithm = "sliding-window", Limit = 100, Window = TimeSpan.FromMinutes(1) },
    ];

    /// <summary>The built-in resources.</summary>
    public static IReadOnlyList<ResourcePolicies> BuiltInResources { get; } =
    [
        new() { Name = "telegram", Policies = [new() { Name = "per-second", Algorithm = "token-bucket", Limit = 30, Window = TimeSpan.FromSeconds(1), Burst = 30 }] },
        new() { Name = "telegram:chat:*", Policies = [new() { Name = "per-minute", Algorithm = "sliding-window", Limit = 20, Window = TimeSpan.FromMinutes(1) }] },
    ];

    /// <summary>Configured resource names and patterns, for listings.</summary>
    public IEnumerable<string> ResourceNames => _exact.Keys.Concat(_patterns.Select(p => p.Prefix + "*"));

    /// <summary>
    /// Builds the catalog from options (and the policies file they name), or returns null with every problem.
    /// </summary>
    public static PolicyCatalog? TryBuild(PolicyOptions options, out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        var users = options.Users.Count > 0 ? options.Users : options.IncludeDefaults ? BuiltInUsers : [];
        var keys = (IReadOnlyList<PolicySpec>)options.Keys;
        var resources = new List<(string Path, ResourcePolicies Entry)>();
        if (options.IncludeDefaults)
        {
            resources.AddRange(BuiltInResources.Select((r, i) => ($"built-in resources[{i}]", r)));
        }

        resources.AddRange(options.Resources.Select((r, i) => ($"{PolicyOptions.SectionName}:Resources[{i}]", r)));
        var usersPath = $"{PolicyOptions.SectionName}:Users";
        var keysPath = $"{PolicyOptions.SectionName}:Keys";

        if (!string.IsNullOrWhiteSpace(options.File))
        {
            var document = ReadFile(options.File, problems);
            if (document is not null)
            {
                if (document.Users is { Count: > 0 } fileUsers)
                {
                    users = fileUsers;
                    usersPath = $"{options.File}: users";
                }

                if (document.Keys is { Count: > 0 } fileKeys)
                {
                    keys = fileKeys;
                    keysPath = $"{options.File}: keys";
                }

                resources.AddRange((document.Resources ?? []).Select((r, i) => ($"{options.File}: resources[{i}]", r)));
            }
        }

        var userDefinitions = Convert(users, usersPath, problems, allowEmpty: true);
        var keyDefinitions = Convert(keys, keysPath, problems, allowEmpty: true);
        var exact = new Dictionary<string, IReadOnlyList<PolicyDefinition>>(StringComparer.Ordinal);
        var patterns = new Dictionary<string, IReadOnlyList<PolicyDefinition>>(StringComparer.Ordinal);
        foreach (var (path, entry) in resources)
        {
            var name = entry.Name ?? string.Empty;
            var nameProblems = new List<FieldProblem>();
            RequestRules.CheckName(nameProblems, $"{path}.name", name);
            problems.AddRange(nameProblems.Select(p => $"{p.Field}: {p.Detail}"));
            if (name.Length == 0 || name.IndexOf('*', StringComparison.Ordinal) is var star && star >= 0 && star != name.Length - 1)
            {
                problems.Add($"{path}.name: '{name}' is not a resource name or pattern; use a name like 'telegram' or a pattern ending in '*' like 'telegram:chat:*'.");
                continue;
            }

            var definitions = Convert(entry.Policies, $"{path}.policies", problems, allowEmpty: false);
            if (definitions is null)
            {
                continue;
            }

            // Later entries (configuration after built-ins, the file after configuration) replace earlier ones.
            if (name.EndsWith('*'))
            {
                patterns[name[..^1]] = definitions;
            }
            else
            {
                exact[name] = definitions;
            }
        }

        errors = problems;
        if (problems.Count > 0)
        {
            return null;
        }

        var ordered = patterns
            .OrderByDescending(p => p.Key.Length)
            .Select(p => (p.Key, p.Value))
            .ToList();
        return new PolicyCatalog(userDefinitions!, keyDefinitions!, exact, ordered);
    }

    /// <summary>The default policies of a subject, or null when it is not configured (resources only).</summary>
    public IReadOnlyList<PolicyDefinition>? DefaultsFor(SubjectKind kind, string id)
    {
        switch (kind)
        {
            case SubjectKind.User:
                return _users;
            case SubjectKind.ApiKey:
                return _keys;
            case SubjectKind.Resource:
                if (_exact.TryGetValue(id, out var policies))
                {
                    return policies;
                }

                foreach (var (prefix, patternPolicies) in _patterns)
                {
                    if (id.Length > prefix.Length && id.StartsWith(prefix, StringComparison.Ordinal))
                    {
                        return patternPolicies;
                    }
                }

                return null;
            default:
                return null;
        }
    }

    private static IReadOnlyList<PolicyDefinition>? Convert(IReadOnlyList<PolicySpec>? specs, string path, List<string> problems, bool allowEmpty)
    {
        if (allowEmpty && (specs is null || specs.Count == 0))
        {
            return [];
        }

        var definitions = PolicySpec.ToDefinitions(specs, path, out var errors);
        problems.AddRange(errors.Select(e => e.ToString()));
        return definitions;
    }

    private static PolicyDocument? ReadFile(string path, List<string> problems)
    {
        try
        {
            using var stream = System.IO.File.OpenRead(path);
            var document = JsonSerializer.Deserialize<PolicyDocument>(stream, FileJson);
            if (document is null)
            {
                problems.Add($"{path}: the policies file is empty; write {{ \"users\": [...], \"resources\": [...] }}.");
            }

            return document;
        }
        catch (JsonException e)
        {
            problems.Add($"{path}: not valid JSON at {e.Path ?? "$"} (line {e.LineNumber + 1}): {e.Message}");
        }
        catch (IOException e)
        {
            problems.Add($"{path}: cannot read the policies file ({e.Message}); check Quota:PoliciesFile.");
        }
        catch (UnauthorizedAccessException e)
        {
            problems.Add($"{path}: cannot read the policies file ({e.Message}); check its permissions.");
        }

        return null;
    }

    private sealed class PolicyDocument
    {
        public List<PolicySpec>? Users { get; set; }

        public List<PolicySpec>? Keys { get; set; }

        public List<ResourcePolicies>? Resources { get; set; }
    }
}

/// <summary>Rejects invalid policy configuration at start, listing every problem and where it is.</summary>
internal sealed class PolicyOptionsValidator : IValidateOptions<PolicyOptions>
{
    public ValidateOptionsResult Validate(string? name, PolicyOptions options)
    {
        PolicyCatalog.TryBuild(options, out var errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Checks decision limits at start.</summary>
internal sealed class DecisionOptionsValidator : IValidateOptions<DecisionOptions>
{
    public ValidateOptionsResult Validate(string? name, DecisionOptions options)
    {
        var errors = new List<string>();
        if (options.MaxWait < TimeSpan.Zero || options.MaxWait > TimeSpan.FromMinutes(10))
        {
            errors.Add($"{DecisionOptions.SectionName}:MaxWait: must be between 00:00:00 and 00:10:00 (got {options.MaxWait}); keep it below the client's response timeout.");
        }

        if (options.ReservationTtl <= TimeSpan.Zero)
        {
            errors.Add($"{DecisionOptions.SectionName}:ReservationTtl: must be positive (got {options.ReservationTtl}), e.g. 00:05:00.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Checks the pepper and the master keys at start, listing every problem, without ever printing either.</summary>
internal sealed class SecretOptionsValidator : IValidateOptions<SecretOptions>
{
    public ValidateOptionsResult Validate(string? name, SecretOptions options)
    {
        var errors = new List<string>();
        if (options.Pepper is { Length: > 0 and < 16 })
        {
            errors.Add($"{SecretOptions.SectionName}:Pepper: is too short; use at least 16 random characters (e.g. `openssl rand -base64 32`).");
        }

        SecretProtector.ParseMasterKeys(options.MasterKeys, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
