using System.Net;
using System.Text;
using System.Text.Json;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// What a web page open in a browser on the silo's machine could send, against the shipped host (no admin token, so
/// loopback callers administer): another site's <c>Origin</c>, bodies as <c>text/plain</c> or a form (the types a page
/// may send anywhere without asking), and a name rebound to 127.0.0.1. Each is refused and changes nothing.
/// </summary>
[Collection(DefaultHostCollection.Name)]
public sealed class CrossSiteTests(DefaultSilo host) : HostTest(host)
{
    private const string Evil = "http://evil.example";

    private QuotaApi Foreign => Api.WithHeader("Origin", Evil);

    private string Own => host.BaseAddress.GetLeftPart(UriPartial.Authority);

    [Fact]
    public async Task The_silo_says_at_start_that_loopback_callers_administer()
    {
        var line = await StartLog.Line(host.Host, "Admin rule:");

        Assert.Contains("Admin rule: loopback.", line, StringComparison.Ordinal);
        Assert.Contains("Quota:Admin:AllowLoopback=false", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_from_another_site_is_403_and_applies_nothing()
    {
        var user = Ids.User();
        var before = await Api.LastChange();

        var reply = await Foreign.Apply(UserDocument(user));

        var problem = reply.ExpectProblem(HttpStatusCode.Forbidden, "Origin");
        Assert.Contains($"'{Evil}' is not this service's origin ({Own})", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.False((await Api.GetUser(user)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
        Assert.Equal(before, await Api.LastChange());
    }

    [Fact]
    public async Task A_key_of_another_site_s_choosing_is_not_registered()
    {
        var user = Ids.User();
        var key = Ids.New("attacker-chosen-key-");

        (await Foreign.RegisterKey(user, new { key })).ExpectProblem(HttpStatusCode.Forbidden, "Origin");

        Assert.Empty((await Api.Get($"/v1/admin/users/{user}/keys")).Expect(HttpStatusCode.OK).Json["keys"]!.AsArray());
        (await Api.Acquire(new { apiKey = key })).Expect(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Acquire_with_a_secret_from_another_site_is_403_and_consumes_nothing()
    {
        var user = Ids.User();

        (await Foreign.Acquire(new { user, includeSecret = true })).ExpectProblem(HttpStatusCode.Forbidden, "Origin");
        (await Foreign.Acquire(new { user })).ExpectProblem(HttpStatusCode.Forbidden, "Origin");

        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
    }

    [Theory]
    [InlineData("null")]
    [InlineData("http://127.0.0.1")]
    [InlineData("https://127.0.0.1")]
    public async Task Origins_that_are_not_exactly_the_silo_s_own_are_foreign(string origin)
    {
        var user = Ids.User();

        (await Api.WithHeader("Origin", origin).PutUser(user, Policies.FixedWindow("m", 1))).ExpectProblem(HttpStatusCode.Forbidden, "Origin");
        (await Api.WithHeader("Origin", origin).Get("/v1/admin/users")).ExpectProblem(HttpStatusCode.Forbidden, "Origin");
        (await Api.WithHeader("Origin", origin).Get("/dashboard/")).ExpectProblem(HttpStatusCode.Forbidden, "Origin");

        Assert.False((await Api.GetUser(user)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
    }

    [Fact]
    public async Task The_silo_s_own_origin_and_no_origin_pass()
    {
        var (sameOrigin, programs) = (Ids.User(), Ids.User());
        var own = Api.WithHeader("Origin", Own);

        (await own.Apply(UserDocument(sameOrigin))).Expect(HttpStatusCode.OK);
        (await Api.Apply(UserDocument(programs))).Expect(HttpStatusCode.OK);
        (await own.Acquire(new { user = sameOrigin, includeSecret = true })).Expect(HttpStatusCode.OK);
        (await own.Get("/v1/admin/users")).Expect(HttpStatusCode.OK);

        Assert.True((await Api.GetUser(sameOrigin)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
        Assert.True((await Api.GetUser(programs)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("text/plain; charset=utf-8")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    public async Task A_body_that_is_not_JSON_is_415_and_changes_nothing(string mediaType)
    {
        var user = Ids.User();
        var before = await Api.LastChange();
        var policies = JsonSerializer.Serialize(new { policies = new[] { Policies.FixedWindow("m", 1) } });

        var apply = (await Send(HttpMethod.Post, "/v1/admin/apply", UserDocument(user), mediaType)).ExpectProblem(HttpStatusCode.UnsupportedMediaType, "Content-Type");
        Assert.Equal("""["application/json","application/yaml","application/x-yaml","text/yaml"]""", apply["accepted"]!.ToJsonString());
        var put = (await Send(HttpMethod.Put, $"/v1/admin/users/{user}", policies, mediaType)).ExpectProblem(HttpStatusCode.UnsupportedMediaType, "Content-Type");
        Assert.Equal("""["application/json"]""", put["accepted"]!.ToJsonString());
        Assert.Contains("send the body as application/json (or a +json type)", put["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        (await Send(HttpMethod.Post, $"/v1/admin/users/{user}/keys", "{}", mediaType)).ExpectProblem(HttpStatusCode.UnsupportedMediaType, "Content-Type");
        (await Send(HttpMethod.Post, "/v1/acquire", JsonSerializer.Serialize(new { user }), mediaType)).ExpectProblem(HttpStatusCode.UnsupportedMediaType, "Content-Type");

        Assert.False((await Api.GetUser(user)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
        Assert.Empty((await Api.Get($"/v1/admin/users/{user}/keys")).Expect(HttpStatusCode.OK).Json["keys"]!.AsArray());
        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
        Assert.Equal(before, await Api.LastChange());
    }

    [Fact]
    public async Task A_body_without_a_content_type_or_sent_chunked_as_text_is_415()
    {
        var user = Ids.User();
        var untyped = new ByteArrayContent(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { user })));
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { user }))));
        chunked.Headers.ContentType = new("text/plain");

        var missing = (await Api.Post("/v1/acquire", untyped)).ExpectProblem(HttpStatusCode.UnsupportedMediaType, "Content-Type");
        Assert.StartsWith("Content-Type: is missing;", missing["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        (await Api.Post("/v1/acquire", new ChunkedContent(chunked))).ExpectProblem(HttpStatusCode.UnsupportedMediaType, "Content-Type");

        Assert.Equal(100, await Api.Remaining("user", user, "per-minute"));
    }

    [Theory]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("application/vnd.quota+json")]
    public async Task JSON_with_a_charset_or_a_json_suffix_is_taken(string mediaType)
    {
        var user = Ids.User();

        (await Send(HttpMethod.Post, "/v1/acquire", JsonSerializer.Serialize(new { user }), mediaType)).Expect(HttpStatusCode.OK);

        Assert.Equal(99, await Api.Remaining("user", user, "per-minute"));
    }

    [Fact]
    public async Task A_bodiless_post_needs_no_content_type_and_may_carry_one()
    {
        (await Api.RegisterKey(Ids.User())).Expect(HttpStatusCode.Created);
        (await Send(HttpMethod.Post, $"/v1/admin/users/{Ids.User()}/keys", string.Empty, "text/plain")).Expect(HttpStatusCode.Created);
    }

    [Fact]
    public async Task A_name_rebound_to_this_machine_is_refused_even_when_its_origin_matches()
    {
        // DNS rebinding: a page at evil.example:port whose name now resolves to 127.0.0.1 is "same origin" with itself.
        var rebound = $"evil.example:{host.BaseAddress.Port}";
        var user = Ids.User();
        var page = Api.WithHeader("Host", rebound).WithHeader("Origin", $"http://{rebound}");

        var get = (await page.Get("/v1/admin/users")).Expect(HttpStatusCode.Forbidden);
        Assert.Contains("address it as localhost or a loopback address", get.Json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        (await page.Apply(UserDocument(user))).Expect(HttpStatusCode.Forbidden);
        (await page.Acquire(new { user, includeSecret = true })).ExpectProblem(HttpStatusCode.Forbidden, "includeSecret");

        Assert.False((await Api.GetUser(user)).Expect(HttpStatusCode.OK).Json["own"]!.GetValue<bool>());
        (await Api.WithHeader("Host", $"localhost:{host.BaseAddress.Port}").Get("/v1/admin/users")).Expect(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Dashboard_answers_forbid_sniffing_and_framing()
    {
        var reply = (await Api.Get("/dashboard/")).Expect(HttpStatusCode.OK);

        Assert.Equal("nosniff", reply.Header("X-Content-Type-Options"));
        Assert.Equal("DENY", reply.Header("X-Frame-Options"));
        Assert.Equal("frame-ancestors 'none'", reply.Header("Content-Security-Policy"));
    }

    [Fact]
    public async Task Without_a_token_there_is_no_sign_in()
    {
        var reply = await Api.Post("/dashboard/sign-in", new FormUrlEncodedContent([new("token", "anything")]));

        reply.Expect(HttpStatusCode.NotFound);
        Assert.Contains("needs no sign-in", reply.Json["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    private static string UserDocument(string user) =>
        "{\"users\":{\"" + user + "\":{\"policies\":[{\"name\":\"m\",\"algorithm\":\"fixed-window\",\"limit\":1,\"window\":\"00:01:00\"}]}}}";

    private Task<Reply> Send(HttpMethod method, string path, string body, string mediaType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", mediaType);
        return method == HttpMethod.Put ? Api.Put(path, content) : Api.Post(path, content);
    }

    /// <summary>Another content sent without a Content-Length (chunked), keeping its headers.</summary>
    private sealed class ChunkedContent : HttpContent
    {
        private readonly HttpContent _inner;

        public ChunkedContent(HttpContent inner)
        {
            _inner = inner;
            Headers.ContentType = inner.Headers.ContentType;
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => _inner.CopyToAsync(stream);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
