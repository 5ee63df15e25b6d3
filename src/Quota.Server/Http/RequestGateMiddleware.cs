using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Quota.Abstractions;
using Quota.Grains;
using Quota.Grains.Configuration;

namespace Quota.Server.Http;

/// <summary>
/// Puts every <c>/v1</c> request through the <see cref="RequestGate"/> at normal priority, except endpoints marked
/// <see cref="PriorityFromBody"/> (<c>POST /v1/acquire</c>), which enter after reading the priority from their body.
/// <c>/healthz</c>, <c>/readyz</c>, <c>/metrics</c>, <c>/dashboard</c> and <c>/</c> are outside it: an overloaded silo
/// must still say that it is alive, whether it is ready, and what its counters are.
/// </summary>
internal sealed class RequestGateMiddleware(RequestDelegate next, RequestGate gate)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<PriorityFromBody>() is not null)
        {
            await next(context);
            return;
        }

        var refusal = gate.TryEnter(Priority.Normal);
        if (refusal != RequestGate.Refusal.None)
        {
            await Shedding.Answer(context, refusal, Priority.Normal).ExecuteAsync(context);
            return;
        }

        context.Response.OnStarting(gate.CloseWhenStopping, context.Response);
        try
        {
            await next(context);
        }
        finally
        {
            gate.Exit();
        }
    }
}

/// <summary>Endpoint metadata: the endpoint enters the <see cref="RequestGate"/> itself, at the priority its body names.</summary>
internal sealed class PriorityFromBody
{
    public static readonly PriorityFromBody Instance = new();
}

/// <summary>The answer to a request the <see cref="RequestGate"/> refused, counted in <c>quota.shed</c>.</summary>
internal static class Shedding
{
    /// <summary>Wires the gate for <c>/v1</c> (one line in <c>UseQuota</c>).</summary>
    public static IApplicationBuilder UseRequestGate(this IApplicationBuilder app) =>
        app.UseWhen(context => context.Request.Path.StartsWithSegments("/v1"), branch => branch.UseMiddleware<RequestGateMiddleware>());

    /// <summary>
    /// Enters the gate for the rest of this request at <paramref name="priority"/>: null when admitted (left when the
    /// response is done), else the <c>503</c> to answer.
    /// </summary>
    public static IResult? Enter(HttpContext context, RequestGate gate, Priority priority)
    {
        var refusal = gate.TryEnter(priority);
        if (refusal != RequestGate.Refusal.None)
        {
            return Answer(context, refusal, priority);
        }

        // Left when the request is disposed, after its response is written, whichever way the endpoint returns.
        context.Response.RegisterForDispose(gate.Admission);
        context.Response.OnStarting(gate.CloseWhenStopping, context.Response);
        return null;
    }

    /// <summary>
    /// A token for the decision call: the request's abort and, when the request waits, the silo's stop, which ends the
    /// wait so its caller is answered (<see cref="StoppedWhileWaiting"/>) rather than cut off.
    /// </summary>
    public static CancellationToken DecisionToken(HttpContext context, RequestGate gate, bool waits)
    {
        if (!waits)
        {
            return context.RequestAborted;
        }

        var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, gate.Stopping);
        context.Response.RegisterForDispose(linked);
        return linked.Token;
    }

    /// <summary>Whether a cancelled decision call was a wait ended by the silo's stop (not by the caller leaving).</summary>
    public static bool StoppedWhileWaiting(HttpContext context, RequestGate gate) =>
        gate.IsStopping && !context.RequestAborted.IsCancellationRequested;

    /// <summary>A <c>503</c> with <c>Retry-After</c> and the temporary-reduced-capacity problem; while stopping also <c>Connection: close</c>.</summary>
    public static IResult Answer(HttpContext context, RequestGate.Refusal refusal, Priority priority)
    {
        var services = context.RequestServices;
        var limits = services.GetRequiredService<IOptions<LimitsOptions>>().Value;
        var instruments = services.GetRequiredService<QuotaInstruments>();
        var name = QuotaInstruments.PriorityName(priority);
        if (refusal == RequestGate.Refusal.Stopping)
        {
            instruments.Shed("stopping", priority);

            // The client should take its next request to another silo: this one will not answer it.
            context.Response.Headers.Connection = "close";
            return HttpJson.Overloaded(context, limits.ShedRetryAfter,
                "This silo is stopping and takes no new requests; nothing was decided or consumed. Retry on another silo.");
        }

        if (refusal == RequestGate.Refusal.QueueDelay)
        {
            instruments.Shed("queue_delay", priority);
            var gate = services.GetRequiredService<RequestGate>();
            var delayThreshold = RequestGate.DelayThreshold(limits.MaxQueueDelay, priority);
            return HttpJson.Overloaded(context, limits.ShedRetryAfter,
                $"This silo is saturated: work waits {gate.CurrentQueueDelay.TotalMilliseconds:F0} ms for a thread, past the {delayThreshold.TotalMilliseconds:F0} ms allowed at {name} priority "
                + $"({LimitsOptions.SectionName}:MaxQueueDelay={limits.MaxQueueDelay.TotalMilliseconds:F0} ms; lower priorities are shed first); nothing was decided or consumed. Retry after Retry-After, or on another silo.");
        }

        instruments.Shed("in_flight", priority);
        var threshold = RequestGate.Threshold(limits.MaxRequestsInFlight, priority);
        return HttpJson.Overloaded(context, limits.ShedRetryAfter,
            $"This silo is working on as many requests as it takes at {name} priority ({threshold} of {LimitsOptions.SectionName}:MaxRequestsInFlight={limits.MaxRequestsInFlight}; "
            + "lower priorities are shed first); nothing was decided or consumed. Retry after Retry-After, or on another silo.");
    }
}
