using System.Net;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// A body the client framed wrongly or sent too slowly is the client's mistake: a 400 (or 408) problem naming
/// <c>body</c>, nothing decided, and no error with a stack trace in the silo's log (only a Debug line).
/// </summary>
[Collection(ConfiguredHostCollection.Name)]
public sealed class FramingTests(ConfiguredSilo host) : HostTest(host)
{
    private const string Body = "{\"user\":\"framing\"}";

    private static string Head(string path, params string[] headers) =>
        string.Join("\r\n", [$"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", .. headers]);

    [Theory]
    [InlineData("/v1/acquire")]
    [InlineData("/v1/settle")]
    [InlineData("/v1/admin/apply")]
    public async Task Conflicting_content_length_and_transfer_encoding_with_an_unchunked_body_is_a_400(string path)
    {
        var reply = await RawHttp.SendAsync(host.BaseAddress, Head(path, $"Content-Length: {Body.Length}", "Transfer-Encoding: chunked"), Body);

        reply.ExpectProblem(HttpStatusCode.BadRequest, "body");
        AssertNoErrorLogged();
    }

    [Fact]
    public async Task A_bad_chunk_size_is_a_400()
    {
        var reply = await RawHttp.SendAsync(host.BaseAddress, Head("/v1/acquire", "Transfer-Encoding: chunked"), $"zz\r\n{Body}\r\n0\r\n\r\n");

        reply.ExpectProblem(HttpStatusCode.BadRequest, "body");
        AssertNoErrorLogged();
    }

    [Fact]
    public async Task A_client_that_closes_before_its_body_is_complete_gets_no_answer_and_logs_no_error()
    {
        // The client sends part of what it declared and closes its side: Kestrel takes that as the client leaving,
        // so there is no one to answer. Nothing is decided and nothing is logged above Debug.
        var user = Ids.User();
        var body = $"{{\"user\":\"{user}\"}}";
        var reply = await RawHttp.SendAsync(host.BaseAddress, Head("/v1/acquire", $"Content-Length: {body.Length + 20}"), body, halfClose: true);

        Assert.Equal(0, reply.Status);
        AssertNoErrorLogged();
        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
    }

    [Fact]
    public async Task A_chunk_longer_than_it_declared_is_a_400()
    {
        // The chunk declares 5 bytes and carries the whole body: after 5 bytes the chunk's CRLF is missing.
        var reply = await RawHttp.SendAsync(host.BaseAddress, Head("/v1/acquire", "Transfer-Encoding: chunked"), $"5\r\n{Body}\r\n0\r\n\r\n");

        reply.ExpectProblem(HttpStatusCode.BadRequest, "body");
        AssertNoErrorLogged();
    }

    [Fact]
    public async Task A_body_that_stops_arriving_is_a_408()
    {
        // Kestrel's MinRequestBodyDataRate (240 bytes/s after a 5 s grace) ends the wait; the connection stays open.
        var reply = await RawHttp.SendAsync(host.BaseAddress, Head("/v1/acquire", $"Content-Length: {Body.Length + 20}"), Body);

        var problem = reply.ExpectProblem(HttpStatusCode.RequestTimeout, "body");
        Assert.Contains("too slowly", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        AssertNoErrorLogged();
    }

    [Fact]
    public async Task A_well_framed_chunked_body_is_decided()
    {
        var user = Ids.User();
        var body = $"{{\"user\":\"{user}\"}}";
        var reply = await RawHttp.SendAsync(host.BaseAddress, Head("/v1/acquire", "Transfer-Encoding: chunked"), $"{body.Length:x}\r\n{body}\r\n0\r\n\r\n");

        Assert.Equal(200, reply.Status);
        Assert.Contains("\"allowed\":true", reply.Body, StringComparison.Ordinal);
    }

    private void AssertNoErrorLogged()
    {
        var log = host.LogTail(4000);
        Assert.DoesNotContain("BadHttpRequestException", log, StringComparison.Ordinal);
        Assert.DoesNotContain("failed with 500", log, StringComparison.Ordinal);
    }
}
