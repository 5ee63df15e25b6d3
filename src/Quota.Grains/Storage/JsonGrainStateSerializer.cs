using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.Storage;

namespace Quota.Grains.Storage;

/// <summary>
/// The serializer of persisted grain state: plain System.Text.Json, camelCase, enums by name, no CLR type names.
/// What is stored depends only on the state's property names, so renaming or moving a state class orphans nothing
/// (the ADO.NET provider's default writes Newtonsoft JSON with type names). Grain type names (<c>[GrainType]</c>)
/// and state names (<c>[PersistentState("tenancy")]</c>, a subject's <c>config</c> and <c>usage</c>) are pinned for the same reason; rows are keyed by both
/// through <see cref="TypeScopedGrainStorage"/>.
/// </summary>
public sealed class JsonGrainStateSerializer : IGrainStorageSerializer
{
    /// <summary>The options every persisted state is written with.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <inheritdoc />
    public BinaryData Serialize<T>(T? input) => BinaryData.FromBytes(JsonSerializer.SerializeToUtf8Bytes(input, Options));

    /// <inheritdoc />
    public T Deserialize<T>(BinaryData input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return JsonSerializer.Deserialize<T>(input.ToMemory().Span, Options)!;
    }
}
