using System.Diagnostics;
using Quota.Abstractions;

namespace Quota.Grains;

/// <summary>
/// Quota's traces, on the <c>Quota</c> activity source: <c>quota.acquire</c> (a decision over several subjects, in the
/// coordinator) and <c>quota.decide</c> (one subject's decision). Tags are bounded and carry no subject's id, key or
/// secret: the kind of subject, cost, priority, wait, outcome, the denying policy's name and the retry-after. Nothing is
/// created unless something listens (an OpenTelemetry tracer provider with <see cref="SourceName"/>).
/// </summary>
public static class QuotaActivities
{
    /// <summary>The activity source's name, for tracer providers.</summary>
    public const string SourceName = "Quota";

    /// <summary>The span of one subject's decision.</summary>
    public const string DecideName = "quota.decide";

    /// <summary>The span of a decision over several subjects.</summary>
    public const string AcquireName = "quota.acquire";

    private static readonly ActivitySource Source = new(SourceName);

    /// <summary>Starts <see cref="DecideName"/> for a subject of <paramref name="kind"/>; null when nothing listens.</summary>
    internal static Activity? StartDecision(SubjectKind kind, SubjectAcquire request)
    {
        var activity = Source.StartActivity(DecideName, ActivityKind.Internal);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag(QuotaInstruments.SubjectKindTag, SubjectNames.Prefix(kind));
            activity.SetTag("quota.cost", request.Cost);
            activity.SetTag("quota.priority", QuotaInstruments.PriorityName(request.Priority));
            activity.SetTag("quota.max_wait_ms", request.MaxWaitMs);
        }

        return activity;
    }

    /// <summary>Starts <see cref="AcquireName"/>; null when nothing listens.</summary>
    internal static Activity? StartAcquire(AcquireRequest request)
    {
        var activity = Source.StartActivity(AcquireName, ActivityKind.Internal);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("quota.cost", request.Cost);
            activity.SetTag("quota.priority", QuotaInstruments.PriorityName(request.Priority));
            activity.SetTag("quota.max_wait_ms", request.MaxWaitMs);
        }

        return activity;
    }

    /// <summary>Ends a <see cref="DecideName"/> span with the subject's answer.</summary>
    internal static void Decided(Activity? activity, SubjectDecision decision)
    {
        if (activity is null)
        {
            return;
        }

        if (activity.IsAllDataRequested)
        {
            activity.SetTag("quota.outcome", Outcome(decision.Outcome));
            if (decision.Cause == DenialCause.Policy && decision.LimitedBy is { } policy)
            {
                activity.SetTag(QuotaInstruments.PolicyTag, policy);
            }

            if (!decision.Allowed && decision.RetryAfter != TimeSpan.MaxValue)
            {
                activity.SetTag("quota.retry_after_ms", (long)decision.RetryAfter.TotalMilliseconds);
            }
        }

        activity.Dispose();
    }

    /// <summary>Ends an <see cref="AcquireName"/> span with the answer.</summary>
    internal static void Acquired(Activity? activity, AcquireResult result)
    {
        if (activity is null)
        {
            return;
        }

        if (activity.IsAllDataRequested)
        {
            activity.SetTag("quota.outcome", Outcome(result.Outcome));
            if (!result.Allowed)
            {
                activity.SetTag("quota.retry_after_ms", result.RetryAfterMs);
            }
        }

        activity.Dispose();
    }

    /// <summary>A decision's outcome as the metrics write it.</summary>
    internal static string Outcome(DecisionOutcome outcome) => outcome switch
    {
        DecisionOutcome.Allowed => "allowed",
        DecisionOutcome.Denied => "denied",
        DecisionOutcome.CostExceedsLimit => "cost_exceeds_limit",
        DecisionOutcome.UnknownSubject => "unknown_subject",
        DecisionOutcome.Overloaded => "overloaded",
        _ => "invalid",
    };
}
