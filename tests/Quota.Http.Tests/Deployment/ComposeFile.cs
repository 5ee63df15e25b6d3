using YamlDotNet.RepresentationModel;

namespace Quota.Http.Tests.Deployment;

/// <summary>
/// A docker-compose.yml read as Compose reads it, for what the tests need: services with YAML merge keys
/// (<c>&lt;&lt;: *anchor</c>) resolved, their environment, networks and ports, and where each environment entry was
/// written (line and column) so the raw text around it can be checked.
/// </summary>
internal sealed class ComposeFile
{
    private const string MergeKey = "<<";

    private readonly YamlMappingNode _root;

    private ComposeFile(string[] lines, YamlMappingNode root)
    {
        Lines = lines;
        _root = root;
    }

    /// <summary>The file's lines as written.</summary>
    public string[] Lines { get; }

    public static ComposeFile Load(string path)
    {
        var text = File.ReadAllText(path);
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        Assert.True(stream.Documents.Count == 1, $"{path} should hold one YAML document; it holds {stream.Documents.Count}.");
        var root = Assert.IsType<YamlMappingNode>(stream.Documents[0].RootNode);
        return new ComposeFile(text.Split('\n'), root);
    }

    /// <summary>Top-level entries, merged.</summary>
    public IReadOnlyDictionary<string, YamlNode> Top => Merge(_root);

    /// <summary>The services' names as written.</summary>
    public IReadOnlyCollection<string> ServiceNames => Mapping(Top, "services", "the file").Keys.ToArray();

    /// <summary>A service's entries, merged.</summary>
    public IReadOnlyDictionary<string, YamlNode> Service(string name)
    {
        var services = Mapping(Top, "services", "the file");
        Assert.True(services.TryGetValue(name, out var service), $"docker-compose.yml has no service '{name}'; it has {string.Join(", ", services.Keys)}.");
        return Merge(Assert.IsType<YamlMappingNode>(service));
    }

    /// <summary>A service's environment, merged, as name → value (Compose turns numbers into strings too).</summary>
    public IReadOnlyDictionary<string, string> Environment(string service)
    {
        var entries = Service(service);
        if (!entries.TryGetValue("environment", out var node))
        {
            return new Dictionary<string, string>();
        }

        var mapping = Assert.IsType<YamlMappingNode>(node);
        return Merge(mapping).ToDictionary(entry => entry.Key, entry => Scalar(entry.Value, $"{service} environment {entry.Key}"), StringComparer.Ordinal);
    }

    /// <summary>
    /// Every environment entry as written, once each: a service's own entries and those of every block it merges in
    /// (an anchored block is shared, so it is listed once however many services merge it).
    /// </summary>
    public IReadOnlyList<(string Name, YamlScalarNode Key, YamlNode Value)> EnvironmentEntriesAsWritten()
    {
        var seen = new HashSet<YamlNode>(ReferenceEqualityComparer.Instance);
        var entries = new List<(string, YamlScalarNode, YamlNode)>();
        foreach (var name in ServiceNames)
        {
            if (Service(name).TryGetValue("environment", out var environment) && environment is YamlMappingNode mapping)
            {
                Collect(mapping);
            }
        }

        return entries;

        void Collect(YamlMappingNode mapping)
        {
            if (!seen.Add(mapping))
            {
                return;
            }

            foreach (var (key, value) in mapping.Children)
            {
                var scalar = Assert.IsType<YamlScalarNode>(key);
                if (IsMergeKey(scalar))
                {
                    foreach (var source in MergeSources(value))
                    {
                        Collect(source);
                    }
                }
                else
                {
                    entries.Add((scalar.Value!, scalar, value));
                }
            }
        }
    }

    /// <summary>A mapping with YAML merge keys resolved: keys written in it win; among several merged blocks the earlier wins.</summary>
    public static IReadOnlyDictionary<string, YamlNode> Merge(YamlMappingNode mapping)
    {
        var merged = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        var sources = new List<YamlMappingNode>();
        foreach (var (key, value) in mapping.Children)
        {
            var scalar = Assert.IsType<YamlScalarNode>(key);
            if (IsMergeKey(scalar))
            {
                sources.AddRange(MergeSources(value));
            }
            else
            {
                merged[scalar.Value!] = value;
            }
        }

        foreach (var source in sources)
        {
            foreach (var (key, value) in Merge(source))
            {
                merged.TryAdd(key, value);
            }
        }

        return merged;
    }

    public static IReadOnlyDictionary<string, YamlNode> Mapping(IReadOnlyDictionary<string, YamlNode> entries, string key, string where)
    {
        Assert.True(entries.TryGetValue(key, out var node), $"{where} has no '{key}'.");
        return Merge(Assert.IsType<YamlMappingNode>(node));
    }

    public static string Scalar(YamlNode node, string what) =>
        node is YamlScalarNode { Value: { } value } ? value : throw new InvalidOperationException($"{what} should be a single value; it is {node.NodeType} at line {node.Start.Line}.");

    public static IReadOnlyList<string> Scalars(YamlNode node, string what) =>
        Assert.IsType<YamlSequenceNode>(node).Children.Select((item, i) => Scalar(item, $"{what}[{i}]")).ToArray();

    private static bool IsMergeKey(YamlScalarNode key) => key.Value == MergeKey && key.Style == YamlDotNet.Core.ScalarStyle.Plain;

    private static IEnumerable<YamlMappingNode> MergeSources(YamlNode value) => value switch
    {
        YamlMappingNode single => [single],
        YamlSequenceNode several => several.Children.Select(child => Assert.IsType<YamlMappingNode>(child)),
        _ => throw new InvalidOperationException($"A merge key at line {value.Start.Line} should name a mapping or a list of them."),
    };
}
