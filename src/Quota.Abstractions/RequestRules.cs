using System.Globalization;

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

    /// <summary>
    /// Validates <paramref name="request"/> once, where it enters: the validated request when it may be decided, else
    /// every problem with it (each naming its JSON field).
    /// </summary>
    /// <param name="request">The request.</param>
    /// <param name="maxWait">The configured ceiling for <see cref="AcquireRequest.MaxWaitMs"/>; null where it is not known (a client).</param>
    /// <param name="validated">The request to decide, when there is no problem.</param>
    /// <param name="problems">Every problem; empty when there is none.</param>
    /// <returns>True when the request may be decided.</returns>
    public static bool TryValidate(AcquireRequest request, TimeSpan? maxWait, out ValidatedAcquire validated, out IReadOnlyList<FieldProblem> problems)
    {
        problems = Validate(request, maxWait);
        validated = problems.Count == 0 ? new ValidatedAcquire(request) : default;
        return problems.Count == 0;
    }

    /// <summary>
    /// The problem with a wait beyond the silo's ceiling, the one rule a client cannot apply (it does not know the
    /// ceiling); null when there is none.
    /// </summary>
    public static FieldProblem? CheckWaitCeiling(long maxWaitMs, TimeSpan maxWait) =>
        maxWaitMs > (long)maxWait.TotalMilliseconds
            ? new("maxWaitMs", $"at most {(long)maxWait.TotalMilliseconds} ms may be waited (got {maxWaitMs}); the ceiling is Quota:Decisions:MaxWait.")
            : null;

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
        return name is not null && IsPlainName(name);
    }

    // The name rule for the common case, printable ASCII with no space at either end, without classifying each
    // character; anything else is asked of NameFault. Agrees with IsName on every string (a property test checks it).
    private static bool IsPlainName(string name)
    {
        if (name.Length is 0 or > MaxNameLength || name[0] == ' ' || name[^1] == ' ')
        {
            return false;
        }

        foreach (var c in name)
        {
            if (c is < ' ' or > '~')
            {
                return NameFault(name, out _) == NameFaultKind.None;
            }
        }

        return true;
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
        else if (maxWait is { } ceiling && CheckWaitCeiling(maxWaitMs, ceiling) is { } beyond)
        {
            yield return beyond;
        }
    }

    /// <summary>
    /// The one rule every identifier obeys (users, API keys as sent, resources, tenants, upstreams, token ids, policy
    /// subjects, and every name inside a lease id, an apply document or a tenancy change), applied once where a name
    /// enters: 1 to <see cref="MaxNameLength"/> UTF-16 code units; not whitespace only; no whitespace at either end
    /// (<see cref="char.IsWhiteSpace(char)"/>, which includes U+00A0 and U+3000: <c>" alice"</c> and <c>"alice"</c>
    /// would be two subjects that print the same); no control characters (Cc); no line or paragraph separators
    /// (U+2028, U+2029: they break a name across log lines); well-formed UTF-16 (no lone surrogate); and no format
    /// characters (Cf, e.g. U+200B zero-width space, U+200D zero-width joiner, U+202E right-to-left override, U+FEFF).
    /// </summary>
    /// <remarks>
    /// Format characters are refused, although some scripts and emoji sequences use the joiners: they are invisible,
    /// so <c>"alice"</c> and <c>"alice\u200B"</c> would be two subjects with separate limits that an operator cannot
    /// tell apart in a log, a console or the change log, and the bidirectional controls reorder how a name (and the
    /// text after it) is displayed. Identifiers are chosen by programs, not typed as prose, so the loss is small and
    /// the rule stays one that any client can check before it sends. Whitespace inside a name (<c>"big tenant"</c>)
    /// is allowed.
    /// </remarks>
    /// <returns>True when <paramref name="name"/> obeys the rule.</returns>
    public static bool IsName(string? name) => name is not null && NameFault(name, out _) == NameFaultKind.None;

    /// <summary>
    /// Checks one name against the rule of <see cref="IsName"/>; adds a problem naming <paramref name="field"/> and
    /// saying what to change when it breaks it. A null name (an omitted field) is no problem.
    /// </summary>
    public static void CheckName(List<FieldProblem> problems, string field, string? name)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (name is null)
        {
            return;
        }

        var fault = NameFault(name, out var at);
        if (fault == NameFaultKind.None)
        {
            return;
        }

        var code = at < name.Length ? $"U+{(int)name[at]:X4}" : string.Empty;
        problems.Add(new(field, fault switch
        {
            NameFaultKind.Empty => "must not be empty; omit the field instead.",
            NameFaultKind.TooLong => $"is {name.Length} characters long; at most {MaxNameLength} are allowed.",
            NameFaultKind.WhitespaceOnly => "is only whitespace; a name needs at least one visible character.",
            NameFaultKind.EdgeWhitespace => $"starts or ends with whitespace ({code}); remove it, since ' a' and 'a' would be two names that look the same.",
            NameFaultKind.Control => $"contains a control character ({code} at position {at}); names must be printable text.",
            NameFaultKind.Separator => $"contains a line or paragraph separator ({code} at position {at}); names must be one line of printable text.",
            NameFaultKind.Format => $"contains an invisible format character ({code} at position {at}, e.g. a zero-width or bidirectional control); names must be printable text.",
            _ => $"is not well-formed Unicode (a lone surrogate {code} at position {at}); send valid UTF-16 text.",
        }));
    }

    private enum NameFaultKind
    {
        None,
        Empty,
        TooLong,
        WhitespaceOnly,
        EdgeWhitespace,
        Control,
        Separator,
        Format,
        LoneSurrogate,
    }

    // What is wrong with a name, and where (the index of the first offending UTF-16 code unit).
    private static NameFaultKind NameFault(string name, out int at)
    {
        at = 0;
        if (name.Length == 0)
        {
            return NameFaultKind.Empty;
        }

        if (name.Length > MaxNameLength)
        {
            return NameFaultKind.TooLong;
        }

        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            at = i;
            if (c is >= ' ' and <= '~')
            {
                continue;
            }

            UnicodeCategory category;
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 == name.Length || !char.IsLowSurrogate(name[i + 1]))
                {
                    return NameFaultKind.LoneSurrogate;
                }

                category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(c, name[i + 1]));
                i++;
            }
            else if (char.IsLowSurrogate(c))
            {
                return NameFaultKind.LoneSurrogate;
            }
            else
            {
                category = CharUnicodeInfo.GetUnicodeCategory(c);
            }

            switch (category)
            {
                case UnicodeCategory.Control:
                    return NameFaultKind.Control;
                case UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator:
                    return NameFaultKind.Separator;
                case UnicodeCategory.Format:
                    return NameFaultKind.Format;
            }
        }

        if (char.IsWhiteSpace(name[0]) || char.IsWhiteSpace(name[^1]))
        {
            at = char.IsWhiteSpace(name[0]) ? 0 : name.Length - 1;
            return string.IsNullOrWhiteSpace(name) ? NameFaultKind.WhitespaceOnly : NameFaultKind.EdgeWhitespace;
        }

        at = name.Length;
        return NameFaultKind.None;
    }
}
