using System.Net;
using Quota.Http.Tests.Infrastructure;
using Quota.Testing;

namespace Quota.Http.Tests;

/// <summary>
/// Traces from a real silo to a real OTLP/HTTP receiver (<see cref="OtlpReceiver"/>): a request's trace runs from
/// ASP.NET Core's server span through Orleans' grain call to Quota's decision span, under service <c>quota</c>;
/// Quota's spans name no subject and no span carries a raw API key.
/// </summary>
public sealed class TracingTests
{
    private static readonly TimeSpan ExportDeadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_acquire_is_traced_from_the_http_request_to_the_decision()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var silo = await SiloProcess.StartAsync(
            [$"--Quota:Telemetry:OtlpEndpoint={receiver.Endpoint}"],
            environment: new Dictionary<string, string?> { ["OTEL_BSP_SCHEDULE_DELAY"] = "100" });
        var api = new QuotaApi(silo.Http);
        var user = Ids.User();

        var rawKey = $"raw-key-{Guid.NewGuid():N}";
        (await api.Acquire(new { apiKey = rawKey })).Expect(HttpStatusCode.NotFound);
        (await api.Acquire(new { user })).Expect(HttpStatusCode.OK);

        Assert.True(
            await receiver.WaitForAsync(span => span.Name == "quota.decide", ExportDeadline)
                && await receiver.WaitForAsync(span => span.Attributes.GetValueOrDefault("http.route") == "/v1/acquire" && span.Attributes.GetValueOrDefault("http.response.status_code") == "200", ExportDeadline),
            $"No decision and HTTP spans arrived within {ExportDeadline.TotalSeconds} s; received: {string.Join(", ", receiver.Spans.Select(s => $"{s.Scope}/{s.Name}"))}.{Environment.NewLine}{silo.LogTail()}");

        var spans = receiver.Spans;
        var http = Assert.Single(spans, s => s.Attributes.GetValueOrDefault("http.route") == "/v1/acquire" && s.Attributes.GetValueOrDefault("http.response.status_code") == "200");
        Assert.Equal(2, http.Kind); // SPAN_KIND_SERVER
        Assert.Equal("POST", http.Attributes["http.request.method"]);
        var decision = Assert.Single(spans, s => s.Name == "quota.decide" && s.TraceId == http.TraceId);
        Assert.Equal("Quota", decision.Scope);
        Assert.Equal("user", decision.Attributes["quota.subject.kind"]);
        Assert.Equal("allowed", decision.Attributes["quota.outcome"]);
        Assert.Equal("1", decision.Attributes["quota.cost"]);
        Assert.Equal("quota", decision.Resource["service.name"]);

        // Decision -> (Orleans' grain-call spans) -> the HTTP server span, by parent ids within the one trace.
        var trace = spans.Where(s => s.TraceId == http.TraceId).ToDictionary(s => s.SpanId);
        var chain = new List<ReceivedSpan>();
        for (var at = decision; at.SpanId != http.SpanId; at = trace[at.ParentSpanId])
        {
            chain.Add(at);
            Assert.True(trace.ContainsKey(at.ParentSpanId), $"The span {at.Scope}/{at.Name}'s parent {at.ParentSpanId} is not in the trace: {string.Join(", ", trace.Values.Select(s => $"{s.Scope}/{s.Name} {s.SpanId}<-{s.ParentSpanId}"))}.");
        }

        Assert.Contains(chain, s => s.Scope.StartsWith("Microsoft.Orleans", StringComparison.Ordinal));
        // Quota's spans name no subject; no span anywhere carries a raw API key (Orleans names the key's grain by its hash).
        Assert.DoesNotContain(spans, s => s.Scope == "Quota" && s.Attributes.Values.Any(v => v.Contains(user, StringComparison.Ordinal)));
        Assert.True(await receiver.WaitForAsync(s => s.Attributes.GetValueOrDefault("http.response.status_code") == "404", ExportDeadline), "The unknown key's request was not traced.");
        Assert.DoesNotContain(receiver.Spans, s => s.Name.Contains(rawKey, StringComparison.Ordinal) || s.Attributes.Values.Any(v => v.Contains(rawKey, StringComparison.Ordinal)));
    }
}
