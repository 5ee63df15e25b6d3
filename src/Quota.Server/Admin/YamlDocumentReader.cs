using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Quota.Abstractions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Quota.Server.Admin;

/// <summary>
/// How much a YAML document may expand to. Aliases (<c>*name</c>) are copied where they are used, so a few hundred
/// bytes of nested aliases can mean billions of values; these bounds are checked before each copy is made, so such a
/// document is refused having allocated no more than the bounds allow.
/// </summary>
/// <param name="MaxNodes">The most values (mappings, sequences and scalars, copies included) a document may hold.</param>
/// <param name="MaxDepth">The deepest nesting of mappings and sequences, copies included.</param>
/// <param name="MaxChars">The most characters of keys and scalars, copies included.</param>
public sealed record YamlLimits(int MaxNodes, int MaxDepth, long MaxChars)
{
    /// <summary>
    /// 100,000 values, nesting 64 deep, and four times <paramref name="documentBytes"/> (the most a document may be
    /// sent as) in text: aliases can share, not multiply. A document past them can be split: apply leaves alone what
    /// a document does not name.
    /// </summary>
    public static YamlLimits For(long documentBytes) => new(100_000, 64, 4 * Math.Max(documentBytes, 1024));
}

/// <summary>
/// Reads one YAML document event by event (YamlDotNet's <see cref="Parser"/>, no object graph) straight into JSON
/// nodes, within <see cref="YamlLimits"/>. Plain scalars are typed by the YAML 1.2 core schema (<c>null</c>,
/// <c>true</c>/<c>false</c>, integers, floats); quoted and block scalars stay strings, so the document is read as
/// strictly as JSON. Refused with the line and column: more than one document, tags, merge keys (<c>&lt;&lt;</c>),
/// keys that are not scalars, duplicate keys, aliases to anchors not yet complete, <c>.inf</c> and <c>.nan</c>.
/// </summary>
internal sealed partial class YamlDocumentReader
{
    private readonly IParser _parser;
    private readonly YamlLimits _limits;
    private readonly Dictionary<string, Anchored> _anchors = new(StringComparer.Ordinal);
    private long _nodes;
    private long _chars;

    private YamlDocumentReader(string yaml, YamlLimits limits)
    {
        _parser = new Parser(new StringReader(yaml));
        _limits = limits;
    }

    /// <summary>A subtree that an anchor names, and what copying it costs.</summary>
    private readonly record struct Anchored(JsonNode? Node, Size Size);

    /// <summary>What a subtree holds: values, characters, and how deep it nests (a scalar: 0).</summary>
    private readonly record struct Size(long Nodes, long Chars, int Height);

    /// <summary>
    /// The document as JSON (null when the stream holds no document or the document is <c>null</c>), or a problem
    /// naming the line and column.
    /// </summary>
    public static JsonNode? Read(string yaml, YamlLimits limits, out FieldProblem? problem)
    {
        problem = null;
        try
        {
            return new YamlDocumentReader(yaml, limits).ReadStream();
        }
        catch (YamlRefusal e)
        {
            problem = new FieldProblem("body", $"line {e.Start.Line}, column {e.Start.Column}: {e.Message}");
        }
        catch (YamlException e)
        {
            problem = new FieldProblem("body", $"is not valid YAML (line {e.Start.Line}, column {e.Start.Column}): {e.Message}");
        }

        return null;
    }

    private JsonNode? ReadStream()
    {
        Expect<StreamStart>();
        if (_parser.TryConsume<StreamEnd>(out _))
        {
            return null;
        }

        Expect<DocumentStart>();
        var (node, _) = ReadNode(0);
        Expect<DocumentEnd>();
        if (!_parser.TryConsume<StreamEnd>(out _))
        {
            throw new YamlRefusal(_parser.Current!.Start, "a second document begins here; send one document per request.");
        }

        return node;
    }

    private (JsonNode? Node, Size Size) ReadNode(int depth)
    {
        var start = _parser.Current ?? throw new YamlRefusal(Mark.Empty, "the document ends unexpectedly.");
        if (start is AnchorAlias alias)
        {
            _parser.MoveNext();
            return Copy(alias, depth);
        }

        var anchor = start is NodeEvent { Anchor.IsEmpty: false } named ? named.Anchor.Value : null;
        (JsonNode? Node, Size Size) read = start switch
        {
            Scalar scalar => ReadScalar(scalar),
            MappingStart mapping => ReadMapping(mapping, depth),
            SequenceStart sequence => ReadSequence(sequence, depth),
            _ => throw new YamlRefusal(start.Start, $"expected a value, found {start.GetType().Name}."),
        };

        if (anchor is not null)
        {
            // A later anchor of the same name replaces the earlier one from here on (YAML's rule).
            _anchors[anchor] = new Anchored(read.Node, read.Size);
        }

        return read;
    }

    /// <summary>Copies an anchored subtree after checking that the copy fits: the check comes first, so nothing large is built.</summary>
    private (JsonNode? Node, Size Size) Copy(AnchorAlias alias, int depth)
    {
        if (!_anchors.TryGetValue(alias.Value.Value, out var anchored))
        {
            throw new YamlRefusal(alias.Start, $"the alias *{alias.Value.Value} names no anchor defined before it (an anchor cannot be used inside itself).");
        }

        Count(alias.Start, anchored.Size.Nodes, anchored.Size.Chars, "the alias *" + alias.Value.Value);
        CheckDepth(alias.Start, depth + anchored.Size.Height);
        return (anchored.Node?.DeepClone(), anchored.Size);
    }

    private (JsonNode? Node, Size Size) ReadMapping(MappingStart start, int depth)
    {
        NoTag(start);
        CheckDepth(start.Start, depth + 1);
        Count(start.Start, 1, 0, "the document");
        _parser.MoveNext();
        var map = new JsonObject();
        var size = new Size(1, 0, 1);
        while (!_parser.TryConsume<MappingEnd>(out _))
        {
            var keyEvent = _parser.Current!;
            if (keyEvent is not Scalar key || !key.Anchor.IsEmpty)
            {
                throw new YamlRefusal(keyEvent.Start, "a key must be written out as text (not a mapping, a sequence, an alias or an anchor).");
            }

            NoTag(key);
            if (key.Style == ScalarStyle.Plain && key.Value == "<<")
            {
                throw new YamlRefusal(key.Start, "merge keys (<<) are not supported; write the entries out (an alias may repeat a whole value).");
            }

            Count(key.Start, 0, key.Value.Length, "the document");
            if (map.ContainsKey(key.Value))
            {
                throw new YamlRefusal(key.Start, $"the key '{key.Value}' appears twice in one mapping; write each key once.");
            }

            _parser.MoveNext();
            var (value, valueSize) = ReadNode(depth + 1);
            map[key.Value] = value;
            size = new Size(size.Nodes + valueSize.Nodes, size.Chars + key.Value.Length + valueSize.Chars, Math.Max(size.Height, valueSize.Height + 1));
        }

        return (map, size);
    }

    private (JsonNode? Node, Size Size) ReadSequence(SequenceStart start, int depth)
    {
        NoTag(start);
        CheckDepth(start.Start, depth + 1);
        Count(start.Start, 1, 0, "the document");
        _parser.MoveNext();
        var list = new JsonArray();
        var size = new Size(1, 0, 1);
        while (!_parser.TryConsume<SequenceEnd>(out _))
        {
            var (item, itemSize) = ReadNode(depth + 1);
            list.Add(item);
            size = new Size(size.Nodes + itemSize.Nodes, size.Chars + itemSize.Chars, Math.Max(size.Height, itemSize.Height + 1));
        }

        return (list, size);
    }

    private (JsonNode? Node, Size Size) ReadScalar(Scalar scalar)
    {
        NoTag(scalar);
        Count(scalar.Start, 1, scalar.Value.Length, "the document");
        _parser.MoveNext();
        var node = scalar.Style == ScalarStyle.Plain ? Plain(scalar) : JsonValue.Create(scalar.Value);
        return (node, new Size(1, scalar.Value.Length, 0));
    }

    /// <summary>A plain scalar by the YAML 1.2 core schema: null, a boolean, a number, or else a string.</summary>
    private static JsonNode? Plain(Scalar scalar)
    {
        var text = scalar.Value;
        switch (text)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }

        if (NotFinite().IsMatch(text))
        {
            throw new YamlRefusal(scalar.Start, $"{text} is not a finite number, which a document cannot hold; quote it if it is text.");
        }

        if (Octal().IsMatch(text) || Hexadecimal().IsMatch(text))
        {
            try
            {
                return JsonValue.Create(Convert.ToUInt64(text[2..], text[1] == 'o' ? 8 : 16));
            }
            catch (OverflowException)
            {
                throw new YamlRefusal(scalar.Start, $"{text} is too large a number; quote it if it is text.");
            }
        }

        if (Number().Match(text) is { Success: true } number && (number.Groups["whole"].Length > 0 || number.Groups["fraction"].Length > 0))
        {
            if (!double.IsFinite(double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture)))
            {
                throw new YamlRefusal(scalar.Start, $"{text} is too large a number; quote it if it is text.");
            }

            // Written as JSON writes numbers (no '+', no leading zeros, digits around a point), keeping every digit:
            // a value is parsed once, by the document's own type, exactly as the same JSON would be.
            var whole = number.Groups["whole"].Value.TrimStart('0');
            var fraction = number.Groups["fraction"];
            var json = (text[0] == '-' ? "-" : string.Empty)
                + (whole.Length == 0 ? "0" : whole)
                + (fraction.Success ? "." + (fraction.Value.Length == 0 ? "0" : fraction.Value) : string.Empty)
                + number.Groups["exponent"].Value;
            return JsonNode.Parse(json);
        }

        return JsonValue.Create(text);
    }

    private void Count(Mark at, long nodes, long chars, string what)
    {
        _nodes += nodes;
        _chars += chars;
        if (_nodes > _limits.MaxNodes)
        {
            throw new YamlRefusal(at, $"{what} expands past {_limits.MaxNodes} values, the most a document may hold; use fewer aliases or split the document (apply leaves alone what it does not name).");
        }

        if (_chars > _limits.MaxChars)
        {
            throw new YamlRefusal(at, $"{what} expands past {_limits.MaxChars} characters of text, the most a document may hold; use fewer aliases or split the document.");
        }
    }

    private void CheckDepth(Mark at, int depth)
    {
        if (depth > _limits.MaxDepth)
        {
            throw new YamlRefusal(at, $"nests deeper than {_limits.MaxDepth} levels, the most a document may.");
        }
    }

    private static void NoTag(NodeEvent node)
    {
        // '!' alone (non-specific) only says "not a plain scalar": it changes nothing we read.
        if (!node.Tag.IsEmpty && !node.Tag.IsNonSpecific)
        {
            throw new YamlRefusal(node.Start, $"tags ({node.Tag.Value}) are not supported; write the value plainly (quote it to make it text).");
        }
    }

    private void Expect<T>()
        where T : ParsingEvent
    {
        if (!_parser.TryConsume<T>(out _))
        {
            throw new YamlRefusal(_parser.Current?.Start ?? Mark.Empty, $"expected {typeof(T).Name}, found {_parser.Current?.GetType().Name ?? "the end"}.");
        }
    }

    [GeneratedRegex(@"^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$", RegexOptions.CultureInvariant)]
    private static partial Regex NotFinite();

    [GeneratedRegex(@"^0o[0-7]+$", RegexOptions.CultureInvariant)]
    private static partial Regex Octal();

    [GeneratedRegex(@"^0x[0-9a-fA-F]+$", RegexOptions.CultureInvariant)]
    private static partial Regex Hexadecimal();

    // The core schema's int and float: [-+]?[0-9]+ and [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    [GeneratedRegex(@"^[-+]?(?<whole>[0-9]*)(\.(?<fraction>[0-9]*))?(?<exponent>[eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Number();

    /// <summary>A document this reader refuses, with where.</summary>
    private sealed class YamlRefusal(Mark start, string message) : Exception(message)
    {
        public Mark Start { get; } = start;
    }
}
