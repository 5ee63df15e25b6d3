using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Quota.Cli;

/// <summary>Policies given on the command line: a JSON file (<c>-f</c>) or repeated <c>--policy '{...}'</c>.</summary>
internal static class PolicyInput
{
    public static Option<string?> File(string description) => new("--file", "-f") { Description = description, HelpName = "FILE" };

    public static Option<string[]> Policy() => new("--policy")
    {
        Description = "One policy as JSON, e.g. '{\"name\":\"per-minute\",\"algorithm\":\"sliding-window\",\"limit\":100,\"window\":\"00:01:00\"}'; repeat for several.",
        HelpName = "JSON",
    };

    /// <summary>Reads a file, or stdin for '-'.</summary>
    public static async Task<string> ReadFileAsync(string file, CancellationToken ct)
    {
        try
        {
            return file == "-" ? await Console.In.ReadToEndAsync(ct) : await System.IO.File.ReadAllTextAsync(file, ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read {file}: {e.Message}");
        }
    }

    /// <summary>
    /// The request body <c>{ "policies": [...] }</c>, or null when neither a file nor <c>--policy</c> was given. A
    /// file holding an object is sent as is (the service names any field it does not know); a file holding just
    /// the array is wrapped.
    /// </summary>
    public static async Task<JsonObject?> ReadAsync(string? file, string[]? policies, CancellationToken ct)
    {
        if (file is not null && policies is { Length: > 0 })
        {
            throw new UsageException("give the policies either in a file (-f) or with --policy, not both.");
        }

        if (file is not null)
        {
            return Parse(await ReadFileAsync(file, ct), file) switch
            {
                JsonObject document => document,
                JsonArray array => new JsonObject { ["policies"] = array },
                _ => throw new UsageException($"{file} must hold {{ \"policies\": [...] }}."),
            };
        }

        if (policies is { Length: > 0 })
        {
            var array = new JsonArray();
            for (var i = 0; i < policies.Length; i++)
            {
                array.Add(Parse(policies[i], $"--policy #{i + 1}"));
            }

            return new JsonObject { ["policies"] = array };
        }

        return null;
    }

    private static JsonNode? Parse(string text, string what)
    {
        try
        {
            return JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new UsageException($"{what} is not valid JSON: {e.Message}");
        }
    }
}
