using Microsoft.Extensions.Options;
using Quota.Abstractions;

namespace Quota.Outbound;

/// <summary>
/// Checks one client's <see cref="QuotaUpstreamOptions"/> when the host starts, collecting every problem; each names
/// the setting by its configuration path (<c>Quota:Outbound:{client}:{Setting}</c>) and says how to fix it.
/// </summary>
internal sealed class QuotaUpstreamOptionsValidator(string clientName) : IValidateOptions<QuotaUpstreamOptions>
{
    public ValidateOptionsResult Validate(string? name, QuotaUpstreamOptions options)
    {
        if (name != clientName)
        {
            return ValidateOptionsResult.Skip;
        }

        var failures = Problems(clientName, options).ToList();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Every problem with <paramref name="options"/>, each a sentence naming the setting.</summary>
    internal static IEnumerable<string> Problems(string clientName, QuotaUpstreamOptions options)
    {
        var path = $"{QuotaUpstreamOptions.SectionName}:{clientName}";
        var names = new List<FieldProblem>();
        if (string.IsNullOrEmpty(options.Upstream))
        {
            yield return $"{path}:Upstream is required: name the Quota upstream whose tokens this client uses (AddQuotaUpstream(\"baselinker\")).";
        }
        else
        {
            RequestRules.CheckName(names, "Upstream", options.Upstream);
        }

        RequestRules.CheckName(names, "Tenant", options.Tenant);
        foreach (var problem in names)
        {
            yield return $"{path}:{problem.Field} {problem.Detail}";
        }

        if (options.Cost < 1)
        {
            yield return $"{path}:Cost must be 1 or more permits per request (got {options.Cost}); a request that takes none would reach the upstream unpaced.";
        }

        if (!Enum.IsDefined(options.Priority))
        {
            yield return $"{path}:Priority must be low, normal, high or critical (got {(int)options.Priority}).";
        }

        if (options.AttemptTimeout is { } attempt && (attempt <= TimeSpan.Zero || attempt > QuotaUpstreamOptions.MaxAttemptTimeout))
        {
            yield return $"{path}:AttemptTimeout must be between 00:00:00.001 and 00:10:00, or unset for none (got {attempt}).";
        }

        if (options.MaxWait < TimeSpan.Zero || options.MaxWait > QuotaUpstreamOptions.MaxMaxWait)
        {
            yield return $"{path}:MaxWait must be between 00:00:00 (deny at once) and 01:00:00 (got {options.MaxWait}).";
        }

        if (!Enum.IsDefined(options.OnDenied))
        {
            yield return $"{path}:OnDenied must be Throw or TooManyRequests (got {(int)options.OnDenied}).";
        }

        if (options.Credential is not null)
        {
            yield break;
        }

        switch (options.Placement)
        {
            case CredentialPlacement.Header:
                if (!IsHeaderName(options.HeaderName))
                {
                    yield return $"{path}:HeaderName '{options.HeaderName}' is not a header name: use letters, digits and !#$%&'*+-.^_`|~, e.g. Authorization or X-Api-Key.";
                }

                if (options.HeaderFormat is null || !options.HeaderFormat.Contains("{secret}", StringComparison.Ordinal))
                {
                    yield return $"{path}:HeaderFormat must contain {{secret}} where the token's secret goes, e.g. 'Bearer {{secret}}' or '{{secret}}'.";
                }
                else if (options.HeaderFormat.Any(char.IsControl))
                {
                    yield return $"{path}:HeaderFormat must not contain control characters (a line break would split the header).";
                }

                break;
            case CredentialPlacement.Query:
                if (string.IsNullOrWhiteSpace(options.QueryParameter) || options.QueryParameter.Any(c => char.IsControl(c) || char.IsWhiteSpace(c) || c is '&' or '=' or '#' or '?'))
                {
                    yield return $"{path}:QueryParameter '{options.QueryParameter}' must be a parameter name without whitespace, control characters or &=#?, e.g. token.";
                }

                break;
            default:
                yield return $"{path}:Placement must be Header or Query (got {(int)options.Placement}), or set Credential in code.";
                break;
        }
    }

    private static bool IsHeaderName(string? name) =>
        !string.IsNullOrEmpty(name) && name.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal));
}
