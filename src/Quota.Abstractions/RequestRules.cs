namespace Quota.Abstractions;

/// <summary>
/// The checks every front door applies to a request before deciding it. Each problem names its JSON field.
/// </summary>
public static class RequestRules
{
    /// <summary>The longest subject name accepted.</summary>
    public const int MaxNameLength = 256;

    /// <summary>The most resources one request may name.</summary>
    public const int MaxResources = 32;

    /// <summary>Every problem with <paramref name="request"/>; empty when it may be decided.</summary>
    /// <param name="request">The request.</param>
    /// <param name="maxWait">The configured ceiling for <see cref="AcquireRequest.MaxWaitMs"/>; null where the silo checks it.</param>
    public static IReadOnlyList<FieldProblem> Validate(AcquireRequest request, TimeSpan? maxWait)
    {
        ArgumentNullException.ThrowIfNull(request);

        // Every decision is validated, almost always to find nothing: the common shape is answered without building
        // the list of problems (which the full check below does, to name every problem).
        if (IsPlainUserOrResource(request, maxWait))
        {
            return [];
        }

        var problems = new List<FieldProblem>();
        CheckName(problems, "user", request.User);
        CheckName(problems, "apiKey", request.ApiKey);
        CheckName(problems, "tenant", request.Tenant);
        CheckName(problems, "upstream", request.Upstream);
        if (request.Resources is { } resources)
        {
            if (resources.Length > MaxResources)
            {
                problems.Add(new("resources", $"at most {MaxResources} resources per request (got {resources.Length}); split the request."));
            }

            for (var i = 0; i < resources.Length; i++)
            {
                if (resources[i] is null)
                {
                    problems.Add(new($"resources[{i}]", "must be a resource name, not null."));
                }
                else
                {
                    CheckName(problems, $"resources[{i}]", resources[i]);
                }
            }
        }

        if (request.User is null && request.ApiKey is null && request.Tenant is null && request.Upstream is null && (request.Resources is null || request.Resources.Length == 0))
        {
            problems.Add(new("user", "name at least one subject: user, apiKey, tenant, upstream or resources."));
        }

        problems.AddRange(CheckAmounts(request.Cost, request.MaxWaitMs, maxWait));

        if (!Enum.IsDefined(request.Priority))
        {
            problems.Add(new("priority", "must be critical, high, normal or low."));
        }

        return problems;
    }

    // One user, or one resource, with an acceptable name, cost, wait and priority: what Validate would find no
    // problem with. Anything else (including every case with a problem) takes the full check.
    private static bool IsPlainUserOrResource(AcquireRequest request, TimeSpan? maxWait)
    {
        if (request.ApiKey is not null || request.Tenant is not null || request.Upstream is not null
            || request.Cost < 0 || request.MaxWaitMs < 0 || (maxWait is { } ceiling && request.MaxWaitMs > (long)ceiling.TotalMilliseconds)
            || request.Priority is not (Priority.Critical or Priority.High or Priority.Normal or Priority.Low))
        {
            return false;
        }

        var name = (request.User, request.Resources) switch
        {
            ({ } user, null or []) => user,
            (null, [{ } resource]) => resource,
            _ => null,
        };
        return name is { Length: > 0 and <= MaxNameLength } && !HasControlCharacter(name);
    }

    private static bool HasControlCharacter(string name)
    {
        foreach (var c in name)
        {
            if (char.IsControl(c))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Problems with a cost and a wait: a negative cost, a negative wait, a wait beyond <paramref name="maxWait"/>
    /// (when given). Shared by every front door and by the subjects themselves.
    /// </summary>
    public static IEnumerable<FieldProblem> CheckAmounts(long cost, long maxWaitMs, TimeSpan? maxWait)
    {
        if (cost < 0)
        {
            yield return new("cost", $"must be 0 (peek) or more (got {cost}).");
        }

        if (maxWaitMs < 0)
        {
            yield return new("maxWaitMs", $"must be 0 or more milliseconds (got {maxWaitMs}).");
        }
        else if (maxWait is { } ceiling && maxWaitMs > (long)ceiling.TotalMilliseconds)
        {
            yield return new("maxWaitMs", $"at most {(long)ceiling.TotalMilliseconds} ms may be waited (got {maxWaitMs}); the ceiling is Quota:Decisions:MaxWait.");
        }
    }

    /// <summary>Checks one name: not empty, at most 256 characters, no control characters.</summary>
    public static void CheckName(List<FieldProblem> problems, string field, string? name)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (name is null)
        {
            return;
        }

        if (name.Length == 0)
        {
            problems.Add(new(field, "must not be empty; omit the field instead."));
        }
        else if (name.Length > MaxNameLength)
        {
            problems.Add(new(field, $"is {name.Length} characters long; at most {MaxNameLength} are allowed."));
        }
        else if (HasControlCharacter(name))
        {
            problems.Add(new(field, "contains a control character; names must be printable text."));
        }
    }
}
