using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Logging;
using Quota.Abstractions;
using Quota.Client;

namespace Quota.Outbound;

/// <summary>
/// Sends each request to an upstream with the credential Quota chooses, and tells Quota what the upstream answered.
/// </summary>
/// <remarks>
/// <para>
/// Per request (per attempt, when it sits inside a retry handler): one decision naming the tenant and the upstream
/// (<see cref="QuotaUpstreamOptions.Tenant"/>, <see cref="QuotaUpstreamOptions.Upstream"/>), waiting up to
/// <see cref="QuotaUpstreamOptions.MaxWait"/>; the chosen token's secret is attached (replacing what an earlier attempt
/// attached); the request is sent; the answer's status and <c>Retry-After</c> (seconds or an HTTP date, for 429 and
/// 503) are reported on that token (<see cref="IQuotaClient.ReportAsync"/>) before the response is returned, so the next
/// decision already knows. A request that got no answer (<see cref="HttpRequestException"/>, or none within
/// <see cref="QuotaUpstreamOptions.AttemptTimeout"/>) is reported as status 0. A request cancelled otherwise (the caller's
/// token, <see cref="HttpClient.Timeout"/>) is not reported: the handler cannot tell a caller giving up from a timeout
/// that is not its own, both of which reach it as the same cancellation.
/// </para>
/// <para>
/// A denied request is not sent: <see cref="QuotaUpstreamRejectedException"/> is thrown or a synthetic 429 returned
/// (<see cref="QuotaUpstreamOptions.OnDenied"/>). Failures to reach Quota itself propagate as thrown (the request is not
/// sent: no permit, no credential). A failed report is logged and does not fail the request.
/// </para>
/// <para>
/// The secret arrives with each grant through the Orleans client (the token grain keeps it decrypted, so asking costs
/// only the bytes), so a rotated secret is used from the next request on. The handler keeps, per token, the last secret
/// and the header value made from it, in memory only. No secret is logged, put in an exception or in a metric.
/// </para>
/// </remarks>
public sealed partial class QuotaUpstreamHandler : DelegatingHandler
{
    /// <summary>The header a synthetic denial carries: the denying subject and policy, e.g. <c>token:baselinker/bl-1/per-minute</c>.</summary>
    public const string LimitedByHeader = "Quota-Limited-By";

    private readonly IQuotaClient _quota;
    private readonly QuotaUpstreamOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Credential> _credentials = new(StringComparer.Ordinal);
    private readonly string _upstream;

    /// <summary>A handler calling the upstream of <paramref name="options"/> (already validated) through <paramref name="quota"/>.</summary>
    public QuotaUpstreamHandler(IQuotaClient quota, QuotaUpstreamOptions options, TimeProvider time, ILogger<QuotaUpstreamHandler> logger)
    {
        ArgumentNullException.ThrowIfNull(quota);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _quota = quota;
        _options = options;
        _time = time;
        _logger = logger;
        _upstream = options.Upstream ?? throw new ArgumentException("The options name no upstream.", nameof(options));
    }

    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var decision = await _quota.AcquireAsync(
            new AcquireRequest
            {
                Tenant = _options.Tenant,
                Upstream = _upstream,
                Cost = _options.Cost,
                Priority = _options.Priority,
                MaxWaitMs = (long)Math.Ceiling(_options.MaxWait.TotalMilliseconds),
                IncludeSecret = true,
            },
            cancellationToken);
        if (!decision.Allowed)
        {
            LogDenied(_logger, _upstream, _options.Tenant, decision.Outcome, decision.LimitedBy, decision.RetryAfterMs);
            return Deny(request, decision);
        }

        var token = decision.Token
            ?? throw new InvalidOperationException($"Quota admitted a request to upstream '{_upstream}' without choosing a token; the cluster and this client disagree on the contract.");
        try
        {
            Attach(request, token);
            LogAcquired(_logger, _upstream, _options.Tenant, token.Id);
            HttpResponseMessage response;
            using var timeout = _options.AttemptTimeout is { } limit ? new CancellationTokenSource(limit, _time) : null;
            using var attempt = timeout is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            try
            {
                response = await base.SendAsync(request, attempt?.Token ?? cancellationToken);
            }
            catch (HttpRequestException)
            {
                await ReportAsync(token.Id, new UpstreamFeedback { Status = 0 });
                throw;
            }
            catch (OperationCanceledException e) when (timeout is { IsCancellationRequested: true } && !cancellationToken.IsCancellationRequested)
            {
                // This handler's own deadline, not the caller giving up: the upstream did not answer in time.
                await ReportAsync(token.Id, new UpstreamFeedback { Status = 0 });
                throw new TaskCanceledException(
                    $"Upstream '{_upstream}' did not answer within {_options.AttemptTimeout} (AttemptTimeout); reported to Quota as unanswered.",
                    new TimeoutException($"No answer within {_options.AttemptTimeout}.", e));
            }

            await ReportAsync(token.Id, new UpstreamFeedback { Status = (int)response.StatusCode, RetryAfterMs = RetryAfterMs(response) });
            return response;
        }
        finally
        {
            // A concurrency policy on the token holds a permit until the answer is in.
            if (decision.LeaseId is { } lease)
            {
                await ReleaseAsync(token.Id, lease);
            }
        }
    }

    private HttpResponseMessage Deny(HttpRequestMessage request, AcquireResult decision)
    {
        var answerable = decision.Outcome is DecisionOutcome.Denied or DecisionOutcome.CostExceedsLimit or DecisionOutcome.Overloaded;
        if (_options.OnDenied != QuotaDenialBehavior.TooManyRequests || !answerable)
        {
            throw new QuotaUpstreamRejectedException(_upstream, _options.Tenant, decision);
        }

        var status = decision.Outcome == DecisionOutcome.Overloaded ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.TooManyRequests;
        var detail = new QuotaUpstreamRejectedException(_upstream, _options.Tenant, decision).Message;
        var response = new HttpResponseMessage(status)
        {
            RequestMessage = request,
            ReasonPhrase = "Denied by Quota",
            Content = new StringContent(
                $$"""{"title":"Quota denied the request; it was not sent","status":{{(int)status}},"detail":{{System.Text.Json.JsonSerializer.Serialize(detail)}},"limitedBy":{{System.Text.Json.JsonSerializer.Serialize(decision.LimitedBy)}},"retryAfterMs":{{decision.RetryAfterMs}}}""",
                Encoding.UTF8,
                "application/problem+json"),
        };
        if (decision.RetryAfterMs >= 0)
        {
            // Whole seconds, rounded up, as Retry-After has no finer unit: never early.
            response.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(Math.Ceiling(decision.RetryAfterMs / 1000.0)));
        }

        if (decision.LimitedBy is { } limitedBy)
        {
            response.Headers.TryAddWithoutValidation(LimitedByHeader, limitedBy);
        }

        return response;
    }

    private void Attach(HttpRequestMessage request, UpstreamToken token)
    {
        var secret = token.Secret
            ?? throw new InvalidOperationException(
                $"Quota chose token '{token.Id}' of upstream '{_upstream}', which holds no secret: store one (PUT /v1/admin/upstreams/{_upstream}/tokens/{token.Id} with \"secret\", or apply). The request was not sent.");
        if (_options.Credential is { } attach)
        {
            attach(request, secret);
            return;
        }

        var credential = _credentials.TryGetValue(token.Id, out var cached) && string.Equals(cached.Secret, secret, StringComparison.Ordinal)
            ? cached
            : _credentials[token.Id] = new Credential(secret, _options.HeaderFormat.Replace("{secret}", secret, StringComparison.Ordinal));
        switch (_options.Placement)
        {
            case CredentialPlacement.Query:
                request.RequestUri = WithQueryParameter(request.RequestUri, _options.QueryParameter, secret);
                break;
            default:
                request.Headers.Remove(_options.HeaderName);
                request.Headers.TryAddWithoutValidation(_options.HeaderName, credential.HeaderValue);
                break;
        }
    }

    /// <summary><paramref name="uri"/> with <paramref name="name"/> set to <paramref name="value"/>: an earlier attempt's value is replaced, not repeated.</summary>
    private static Uri WithQueryParameter(Uri? uri, string name, string value)
    {
        if (uri is null || !uri.IsAbsoluteUri)
        {
            throw new InvalidOperationException("The request has no absolute URI to put the credential in; give the client a BaseAddress or the request an absolute URI.");
        }

        var kept = uri.Query.TrimStart('?')
            .Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Where(part => !string.Equals(Uri.UnescapeDataString(part.Split('=', 2)[0]), name, StringComparison.Ordinal));
        var query = string.Join('&', kept.Append($"{Uri.EscapeDataString(name)}={Uri.EscapeDataString(value)}"));
        return new UriBuilder(uri) { Query = query }.Uri;
    }

    /// <summary>
    /// The upstream's <c>Retry-After</c> in milliseconds (0 to <see cref="UpstreamFeedback.MaxRetryAfterMs"/>) for a 429
    /// or 503; null when it sent none. A date is read against this process's clock (<see cref="TimeProvider"/>).
    /// </summary>
    private long? RetryAfterMs(HttpResponseMessage response)
    {
        if (response.StatusCode is not (HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable)
            || response.Headers.RetryAfter is not { } retryAfter)
        {
            return null;
        }

        var wait = retryAfter.Delta ?? (retryAfter.Date is { } date ? date - _time.GetUtcNow() : null);
        return wait is { } span
            ? Math.Clamp((long)Math.Ceiling(span.TotalMilliseconds), 0, UpstreamFeedback.MaxRetryAfterMs)
            : null;
    }

    private async Task ReportAsync(string token, UpstreamFeedback feedback)
    {
        try
        {
            // Not the caller's token: the answer came, so Quota must hear of it even if the caller gives up now.
            var health = await _quota.ReportAsync(_upstream, token, feedback, CancellationToken.None);
            if (health is null)
            {
                LogTokenGone(_logger, _upstream, token, feedback.Status);
            }
            else
            {
                LogReported(_logger, _upstream, token, feedback.Status, feedback.RetryAfterMs, health.Circuit);
            }
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            LogReportFailed(_logger, error, _upstream, token, feedback.Status);
        }
    }

    private async Task ReleaseAsync(string token, string lease)
    {
        try
        {
            _ = await _quota.ReleaseAsync(lease, CancellationToken.None);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            LogReleaseFailed(_logger, error, _upstream, token);
        }
    }

    /// <summary>A token's last secret and the header value made from it.</summary>
    private sealed record Credential(string Secret, string HeaderValue);
}
