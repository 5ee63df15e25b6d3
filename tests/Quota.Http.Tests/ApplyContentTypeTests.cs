using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Quota.Http.Tests.Infrastructure;

namespace Quota.Http.Tests;

/// <summary>
/// POST /v1/admin/apply reads the body as its Content-Type says (JSON or YAML), refuses every other type with 415, and
/// reads YAML within bounds: a few hundred bytes of nested aliases are refused at once instead of growing the silo.
/// </summary>
[Collection(AdminHostCollection.Name)]
public sealed class ApplyContentTypeTests(AdminSilo host) : HostTest(host)
{
    /// <summary>Nine levels of nine aliases each: 9^9 (387 million) values in 300 bytes.</summary>
    internal static string AliasBomb()
    {
        var lines = new List<string> { "a: &a [1,1,1,1,1,1,1,1,1]" };
        for (var level = 'b'; level <= 'i'; level++)
        {
            var previous = (char)(level - 1);
            lines.Add($"{level}: &{level} [{string.Join(',', Enumerable.Repeat($"*{previous}", 9))}]");
        }

        return string.Join('\n', lines) + "\n";
    }

    [Fact]
    public async Task A_yaml_alias_bomb_is_refused_at_once_without_growing_the_silo()
    {
        var pid = host.Host.ProcessId ?? throw new InvalidOperationException("the host is not running");
        var before = await Api.LastChange();
        var rssBefore = ResidentBytes(pid);
        var clock = Stopwatch.StartNew();

        var problem = (await Api.Apply(AliasBomb(), mediaType: "application/yaml")).ExpectProblem(HttpStatusCode.BadRequest, "body");

        clock.Stop();
        var detail = problem["detail"]!.GetValue<string>();
        Assert.Contains("the alias *", detail, StringComparison.Ordinal);
        Assert.Contains("100000 values", detail, StringComparison.Ordinal);

        // Before the bound this request took 39 s and 1.2 GB under a 1 GiB heap cap (15 GB without); now it is
        // milliseconds and a few MB. Generous limits, far from both.
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"the refusal took {clock.Elapsed}");
        var grown = ResidentBytes(pid) - rssBefore;
        Assert.True(grown < 100L << 20, $"the silo's resident memory grew by {grown >> 20} MB");
        Assert.Equal(before, await Api.LastChange());
    }

    [Theory]
    [InlineData("application/yaml")]
    [InlineData("application/x-yaml")]
    [InlineData("text/yaml")]
    [InlineData("Application/YAML")]
    public async Task Yaml_is_read_when_the_content_type_says_yaml(string mediaType)
    {
        var user = Ids.User();

        var plan = (await Api.Apply(YamlUser(user), dryRun: true, mediaType)).Expect(HttpStatusCode.OK).Json;

        Assert.Equal($"user:{user}", plan["changes"]![0]!["subject"]!.GetValue<string>());
        Assert.Equal(5, plan["changes"]![0]!["new"]![0]!["limit"]!.GetValue<long>());
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/vnd.quota.apply+json")]
    public async Task Json_is_read_when_the_content_type_says_json(string mediaType)
    {
        var user = Ids.User();

        var plan = (await Api.Apply(JsonUser(user), dryRun: true, mediaType)).Expect(HttpStatusCode.OK).Json;

        Assert.Equal($"user:{user}", plan["changes"]![0]!["subject"]!.GetValue<string>());
    }

    [Fact]
    public async Task Yaml_sent_as_json_is_read_as_json_and_refused()
    {
        var problem = (await Api.Apply(YamlUser(Ids.User()), dryRun: true, "application/json")).ExpectProblem(HttpStatusCode.BadRequest, "body");

        Assert.Contains("not valid JSON", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/xml")]
    [InlineData("application/json; charset=iso-8859-1")]
    [InlineData(null)]
    public async Task Any_other_content_type_or_none_is_a_415_naming_the_accepted_types(string? mediaType)
    {
        var before = await Api.LastChange();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(JsonUser(Ids.User())));
        if (mediaType is not null)
        {
            content.Headers.ContentType = MediaTypeHeaderValue.Parse(mediaType);
        }

        var problem = (await Api.Post("/v1/admin/apply", content)).ExpectProblem(HttpStatusCode.UnsupportedMediaType, "Content-Type");

        var detail = problem["detail"]!.GetValue<string>();
        Assert.Contains(mediaType is null ? "is missing" : $"'{mediaType}' is not accepted here", detail, StringComparison.Ordinal);
        Assert.Equal("""["application/json","application/yaml","application/x-yaml","text/yaml"]""", problem["accepted"]!.ToJsonString());
        foreach (var accepted in new[] { "application/json", "application/yaml", "application/x-yaml", "text/yaml" })
        {
            Assert.Contains(accepted, detail, StringComparison.Ordinal);
        }

        Assert.Equal(before, await Api.LastChange());
    }

    [Theory]
    [InlineData("30", 30)]
    [InlineData("0x1E", 30)]
    [InlineData("0o36", 30)]
    [InlineData("+030", 30)]
    public async Task Yaml_plain_numbers_are_numbers_by_the_core_schema(string written, long limit)
    {
        var user = Ids.User();

        var plan = (await Api.Apply($"""
            users:
              {user}:
                policies:
                  - {"{"} name: m, algorithm: fixed-window, limit: {written}, window: 00:01:00 {"}"}
            """, dryRun: true, "application/yaml")).Expect(HttpStatusCode.OK).Json;

        Assert.Equal(limit, plan["changes"]![0]!["new"]![0]!["limit"]!.GetValue<long>());
    }

    [Theory]
    [InlineData("limit: \"5\"", "users.{0}.policies[0].limit")]
    [InlineData("limit: '5'", "users.{0}.policies[0].limit")]
    [InlineData("limit: 5\n        Window: \"00:01:00\"", "users.{0}.policies[0].Window")]
    public async Task Quoted_numbers_and_names_in_another_case_are_refused_in_yaml(string line, string field)
    {
        var user = Ids.User();
        var document = $"""
            users:
              {user}:
                policies:
                  - name: m
                    algorithm: fixed-window
                    window: "00:01:00"
                    {line}
            """;

        (await Api.Apply(document, dryRun: true, "application/yaml")).ExpectProblem(HttpStatusCode.BadRequest, string.Format(CultureInfo.InvariantCulture, field, user));
    }

    [Theory]
    [InlineData("{{\"users\":{{\"{0}\":{{\"policies\":[{{\"name\":\"m\",\"algorithm\":\"fixed-window\",\"limit\":\"5\",\"window\":\"00:01:00\"}}]}}}}}}", "users.{0}.policies[0].limit")]
    [InlineData("{{\"Users\":{{\"{0}\":{{\"policies\":[]}}}}}}", "Users")]
    public async Task Quoted_numbers_and_names_in_another_case_are_refused_in_json(string template, string field)
    {
        var user = Ids.User();

        (await Api.Apply(string.Format(CultureInfo.InvariantCulture, template, user), dryRun: true)).ExpectProblem(HttpStatusCode.BadRequest, string.Format(CultureInfo.InvariantCulture, field, user));
    }

    private static string YamlUser(string user) => $"""
        users:
          {user}:
            policies:
              - {"{"} name: m, algorithm: fixed-window, limit: 5, window: 00:01:00 {"}"}
        """;

    private static string JsonUser(string user) =>
        $$"""{ "users": { "{{user}}": { "policies": [ { "name": "m", "algorithm": "fixed-window", "limit": 5, "window": "00:01:00" } ] } } }""";

    /// <summary>The process's resident set (VmRSS), from /proc.</summary>
    private static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }
}
