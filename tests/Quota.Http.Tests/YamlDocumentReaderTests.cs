using System.Diagnostics;
using Quota.Server.Admin;

namespace Quota.Http.Tests;

/// <summary>
/// The bounded YAML reader behind apply: plain scalars typed by the YAML 1.2 core schema, aliases expanded only within
/// the bounds (checked before anything is copied), and every unsupported construct refused with where it is.
/// </summary>
public sealed class YamlDocumentReaderTests
{
    private static readonly YamlLimits Limits = YamlLimits.For(1 << 20);

    [Fact]
    public void Plain_scalars_are_typed_by_the_core_schema_and_quoted_ones_stay_text()
    {
        var json = Read("""
            int: 30
            signed: -7
            plus: +7
            zeros: 007
            octal: 0o17
            hex: 0xff
            float: 7.5
            point: 1.
            lead: .5
            exp: 1e3
            big: 123456789012345678901234567890
            yes: true
            no: False
            nothing: ~
            empty:
            nul: NULL
            duration: 00:01:00
            word: yes
            quoted: "30"
            single: 'true'
            block: |
              30
            """);

        Assert.Equal(
            """{"int":30,"signed":-7,"plus":7,"zeros":7,"octal":15,"hex":255,"float":7.5,"point":1.0,"lead":0.5,"exp":1e3,"big":123456789012345678901234567890,"yes":true,"no":false,"nothing":null,"empty":null,"nul":null,"duration":"00:01:00","word":"yes","quoted":"30","single":"true","block":"30"}""",
            json);
    }

    [Fact]
    public void Aliases_within_the_bounds_are_expanded()
    {
        Assert.Equal(
            """{"shared":{"limit":5,"window":"00:01:00"},"a":[{"limit":5,"window":"00:01:00"}],"b":{"limit":5,"window":"00:01:00"}}""",
            Read("shared: &p { limit: 5, window: 00:01:00 }\na: [*p]\nb: *p\n"));
    }

    [Fact]
    public void The_alias_bomb_is_refused_at_the_node_bound_without_building_it()
    {
        var clock = Stopwatch.StartNew();
        var allocated = GC.GetAllocatedBytesForCurrentThread();

        var problem = Refused(ApplyContentTypeTests.AliasBomb());

        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.Equal("body", problem.Field);
        Assert.StartsWith("line 6, column ", problem.Detail, StringComparison.Ordinal);
        Assert.Contains("the alias *e expands past 100000 values", problem.Detail, StringComparison.Ordinal);

        // 9^9 values fully built would be tens of gigabytes; within the bound at most 100,000 nodes are ever built.
        Assert.True(allocated < 64L << 20, $"reading the bomb allocated {allocated >> 20} MB");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"reading the bomb took {clock.Elapsed}");
    }

    [Fact]
    public void Text_multiplied_by_aliases_is_refused_at_the_size_bound()
    {
        var text = new string('x', 1000);
        var document = $"a: &a \"{text}\"\nb: [{string.Join(',', Enumerable.Repeat("*a", 100))}]\n";

        var problem = Refused(document, new YamlLimits(100_000, 64, 50_000));

        Assert.Contains("expands past 50000 characters", problem.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Nesting_deeper_than_the_bound_is_refused_also_through_an_alias()
    {
        Assert.Contains("nests deeper than 64 levels", Refused(new string('[', 65) + new string(']', 65)).Detail, StringComparison.Ordinal);
        Assert.Equal("[[[1]]]", Read(new string('[', 3) + "1" + new string(']', 3), new YamlLimits(100, 3, 100)));

        var problem = Refused("a: &a [[1]]\nb: [*a]\n", new YamlLimits(100, 3, 100));

        Assert.StartsWith("line 2, column 5:", problem.Detail, StringComparison.Ordinal);
        Assert.Contains("nests deeper than 3 levels", problem.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a: 1\n---\nb: 2\n", "a second document begins here")]
    [InlineData("a: !!str 1\n", "tags (tag:yaml.org,2002:str) are not supported")]
    [InlineData("a: !custom x\n", "tags (!custom) are not supported")]
    [InlineData("base: &b { x: 1 }\nc:\n  <<: *b\n", "merge keys (<<) are not supported")]
    [InlineData("a: 1\na: 2\n", "the key 'a' appears twice")]
    [InlineData("? [a]\n: 1\n", "a key must be written out as text")]
    [InlineData("a: *nowhere\n", "the alias *nowhere names no anchor defined before it")]
    [InlineData("a: &a [*a]\n", "the alias *a names no anchor defined before it")]
    [InlineData("a: .inf\n", ".inf is not a finite number")]
    [InlineData("a: .NaN\n", ".NaN is not a finite number")]
    [InlineData("a: 1e999\n", "1e999 is too large a number")]
    [InlineData("a: 0x1ffffffffffffffff\n", "is too large a number")]
    [InlineData("a: [1, 2\n", "is not valid YAML")]
    public void Unsupported_constructs_are_refused_saying_where_and_why(string document, string expected)
    {
        var problem = Refused(document);

        Assert.Equal("body", problem.Field);
        Assert.Contains(expected, problem.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment\n")]
    [InlineData("~\n")]
    public void A_stream_without_a_document_reads_as_nothing(string yaml)
    {
        Assert.Null(YamlDocumentReader.Read(yaml, Limits, out var problem));
        Assert.Null(problem);
    }

    private static string Read(string yaml, YamlLimits? limits = null)
    {
        var node = YamlDocumentReader.Read(yaml, limits ?? Limits, out var problem);
        Assert.Null(problem);
        return node!.ToJsonString();
    }

    private static Abstractions.FieldProblem Refused(string yaml, YamlLimits? limits = null)
    {
        Assert.Null(YamlDocumentReader.Read(yaml, limits ?? Limits, out var problem));
        return problem!;
    }
}
