using Quota.Abstractions;
using Quota.Algorithms.Limiting;
using Quota.Grains.Subjects;

namespace Quota.Grains.Rls;

/// <summary>
/// The fixed policies of a resource named by the rate-limit service: the set its name's hash addresses, which never
/// changes. Nothing comes before them (<see cref="NoGate"/>). No set (a name no one registered) means not configured.
/// </summary>
internal sealed class DescriptorPolicySource(IReadOnlyList<PolicyDefinition>? policies) : IPolicySource
{
    /// <summary>A gate that lets every request through to the policies.</summary>
    public static readonly ISubjectGate NoGate = new Open();

    /// <inheritdoc />
    public bool IsConfigured => policies is not null;

    /// <inheritdoc />
    public IReadOnlyList<PolicyDefinition>? CurrentPolicies() => policies;

    private sealed class Open : ISubjectGate
    {
        public void Arrived(SubjectAcquire request)
        {
        }

        public (DenialCause Cause, TimeSpan RetryAfter)? Deny(SubjectAcquire request, DateTimeOffset now) => null;

        public SubjectDecision Granted(SubjectAcquire request, SubjectDecision decision) => decision;
    }
}
