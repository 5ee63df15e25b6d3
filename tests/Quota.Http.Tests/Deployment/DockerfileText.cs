using System.Text;
using System.Text.Json;

namespace Quota.Http.Tests.Deployment;

/// <summary>
/// A Dockerfile read as plain text: comment lines dropped, continuation lines joined, instructions grouped by stage.
/// Enough for the instructions this repository writes (FROM, WORKDIR, COPY, RUN, ENV, EXPOSE, USER, ENTRYPOINT),
/// not a full parser (no heredocs, no escape directive).
/// </summary>
internal sealed class DockerfileText
{
    private DockerfileText(IReadOnlyList<Stage> stages) => Stages = stages;

    public IReadOnlyList<Stage> Stages { get; }

    public static DockerfileText Load(string path)
    {
        var stages = new List<Stage>();
        var instructions = new List<Instruction>();
        var pending = new StringBuilder();
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                pending.Append(line[..^1]).Append(' ');
                continue;
            }

            pending.Append(line);
            var text = pending.ToString();
            pending.Clear();
            var space = text.IndexOf(' ', StringComparison.Ordinal);
            var keyword = (space < 0 ? text : text[..space]).ToUpperInvariant();
            var arguments = space < 0 ? string.Empty : text[(space + 1)..].Trim();
            if (keyword == "FROM")
            {
                var words = Words(arguments).Where(word => !word.StartsWith("--", StringComparison.Ordinal)).ToArray();
                var name = words.Length == 3 && words[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? words[2] : null;
                instructions = [];
                stages.Add(new Stage(words[0], name, instructions));
            }
            else
            {
                Assert.True(stages.Count > 0, $"{path}: '{keyword}' before any FROM.");
                instructions.Add(new Instruction(keyword, arguments));
            }
        }

        return new DockerfileText(stages);
    }

    /// <summary>Whitespace-separated words, double quotes removed (<c>A="" B=c</c> → <c>A=</c>, <c>B=c</c>).</summary>
    public static IReadOnlyList<string> Words(string arguments)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var quoted = false;
        var any = false;
        foreach (var c in arguments)
        {
            if (c == '"')
            {
                quoted = !quoted;
                any = true;
            }
            else if (char.IsWhiteSpace(c) && !quoted)
            {
                if (any)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    any = false;
                }
            }
            else
            {
                word.Append(c);
                any = true;
            }
        }

        if (any)
        {
            words.Add(word.ToString());
        }

        return words;
    }

    /// <summary>One stage: its base image, its name (<c>AS name</c>) and its instructions in order.</summary>
    public sealed record Stage(string Image, string? Name, IReadOnlyList<Instruction> Instructions)
    {
        public IEnumerable<Instruction> All(string keyword) => Instructions.Where(instruction => instruction.Keyword == keyword);

        /// <summary>Every <c>ENV</c> in the stage as name → value (the <c>key=value</c> form).</summary>
        public IReadOnlyDictionary<string, string> Environment() => All("ENV")
            .SelectMany(env => Words(env.Arguments))
            .Select(pair => pair.Split('=', 2))
            .ToDictionary(pair => pair[0], pair => pair.Length == 2 ? pair[1] : throw new InvalidOperationException($"ENV '{pair[0]}' is not in key=value form."), StringComparer.Ordinal);
    }

    public sealed record Instruction(string Keyword, string Arguments)
    {
        /// <summary>The exec form's arguments (<c>["dotnet", "x.dll"]</c>).</summary>
        public string[] ExecForm() => JsonSerializer.Deserialize<string[]>(Arguments)
            ?? throw new InvalidOperationException($"{Keyword} {Arguments} is not in exec (JSON array) form.");

        /// <summary>A COPY's flags (<c>--from=build</c>), sources and destination.</summary>
        public (IReadOnlyList<string> Flags, IReadOnlyList<string> Sources, string Destination) CopyParts()
        {
            var words = Words(Arguments);
            var flags = words.TakeWhile(word => word.StartsWith("--", StringComparison.Ordinal)).ToArray();
            var rest = words.Skip(flags.Length).ToArray();
            return (flags, rest[..^1], rest[^1]);
        }
    }
}
