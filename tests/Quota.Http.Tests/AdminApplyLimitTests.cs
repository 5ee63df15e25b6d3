using System.Net;
using System.Text;
using Quota.Http.Tests.Infrastructure;
using static Quota.Http.Tests.Infrastructure.ConfiguredSilo;

namespace Quota.Http.Tests;

/// <summary>POST /v1/admin/apply accepts documents up to 64 times Quota:Http:MaxBodyBytes, however they are sent.</summary>
[Collection(ConfiguredHostCollection.Name)]
public sealed class AdminApplyLimitTests(ConfiguredSilo host) : HostTest(host)
{
    private const int Limit = MaxBodyBytes * 64;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_document_over_the_limit_is_rejected_naming_the_body(bool chunked)
    {
        var document = Document(Limit + 1);
        HttpContent content = chunked ? new ChunkedContent(document) : new StringContent(document, Encoding.UTF8, "application/yaml");

        var reply = await Api.Post("/v1/admin/apply?dryRun=true", content);

        reply.ExpectProblem(HttpStatusCode.BadRequest, "body");
        Assert.Contains(Limit.ToString(System.Globalization.CultureInfo.InvariantCulture), reply.Json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_chunked_document_within_the_limit_is_planned()
    {
        var reply = await Api.Post("/v1/admin/apply?dryRun=true", new ChunkedContent(Document(Limit - 1024)));

        Assert.True(reply.Expect(HttpStatusCode.OK).Json["dryRun"]!.GetValue<bool>());
    }

    /// <summary>A valid YAML document of at least <paramref name="bytes"/> bytes (a comment pads it).</summary>
    private static string Document(int bytes)
    {
        var body = $"users:\n  {Ids.User()}:\n    policies:\n      - {{ name: per-hour, algorithm: fixed-window, limit: 1, window: \"01:00:00\" }}\n";
        return body + "#" + new string('x', Math.Max(0, bytes - body.Length - 2)) + "\n";
    }

    /// <summary>A YAML body without a Content-Length: sent chunked.</summary>
    private sealed class ChunkedContent : HttpContent
    {
        private readonly string _text;

        public ChunkedContent(string text)
        {
            _text = text;
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/yaml");
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            stream.WriteAsync(Encoding.UTF8.GetBytes(_text)).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
