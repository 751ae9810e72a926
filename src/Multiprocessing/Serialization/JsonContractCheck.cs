using System.Reflection;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Multiprocessing.Serialization;

/// <summary>
/// Decides, once per declared type and before any value is sent, whether System.Text.Json would
/// carry every piece of a value's state to the other process and rebuild it. It walks the same
/// contract the serializer uses (members, constructor parameters, element and key types, down to
/// the leaves) and refuses the type, naming the member and the fix, where the serializer would
/// quietly drop or replace data: an <c>object</c>, interface or abstract member (read back as a
/// JsonElement, or not at all), a get-only or private-setter property that nothing sets back, state
/// in a non-public field, a constructor parameter that matches no member, a collection type with
/// members of its own. What a value can still hide from a type check (an instance of a derived type
/// in a slot declared as its base) is refused when it is written, by <see cref="RefuseSubstitutes"/>.
/// </summary>
internal static class JsonContractCheck
{
    private const string Fix = "Or register an IWorkerSerializer for the type.";

    /// <summary>Why values declared as <paramref name="root"/> would not arrive intact as JSON, or null when they would.</summary>
    public static string? Explain(Type root, JsonSerializerOptions options) =>
        Walk(root, TypeNames.Short(root), options, new HashSet<Type>());

    private static string? Walk(Type type, string path, JsonSerializerOptions options, HashSet<Type> seen)
    {
        // A type met before was checked then (or is being checked further up, for a recursive type).
        if (!seen.Add(type))
        {
            return null;
        }
        if (Nullable.GetUnderlyingType(type) is { } underlying)
        {
            return Walk(underlying, path, options, seen);
        }
        if (CodecProvider.WhyUnsupported(type) is { } reason)
        {
            return $"{path}: {reason}";
        }
        if (typeof(Exception).IsAssignableFrom(type))
        {
            return $"{path} is an exception ({TypeNames.Display(type)}); an exception's state (stack trace, inner exceptions, data) does not cross a process boundary. Send its message, or a record of what the receiver needs.";
        }
        if (typeof(SharedObject).IsAssignableFrom(type))
        {
            return CodecProvider.IsSharedObject(type)
                ? null
                : $"{path} is declared as {TypeNames.Display(type)}: the worker would not know which shared object to attach. Declare the concrete type (SharedArray<T>, SharedValue<T>, SharedMemory, …).";
        }
        if (type.IsPrimitive || type.IsEnum || type == typeof(string) || (type.IsValueType && !CodecProvider.HoldsReferences(type)))
        {
            return null; // exact: System.Text.Json's own number, string and enum converters, or ours (raw bytes, char as a number)
        }
        if (type.IsArray && type.GetArrayRank() > 1)
        {
            return $"{path} is a multi-dimensional array ({TypeNames.Display(type)}), which System.Text.Json cannot write. Use a jagged array ({TypeNames.Display(type.GetElementType()!)}[][]) or a flat array and its dimensions. {Fix}";
        }
        JsonTypeInfo info;
        try
        {
            info = options.GetTypeInfo(type);
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException)
        {
            return $"{path} ({TypeNames.Display(type)}) cannot be written as JSON: {e.Message} {Fix}";
        }
        return info.Kind switch
        {
            JsonTypeInfoKind.None => null, // a converter writes it whole (DateTime, Guid, Uri, BigInteger, JsonElement, …)
            JsonTypeInfoKind.Enumerable => CollectionMembers(type, path)
                ?? Walk(info.ElementType ?? typeof(object), path + "[]", options, seen),
            JsonTypeInfoKind.Dictionary => CollectionMembers(type, path)
                ?? DictionaryKey(info.KeyType ?? typeof(object), path, options)
                ?? Walk(info.ElementType ?? typeof(object), path + "[]", options, seen),
            _ => Object(info, path, options, seen),
        };
    }

    private static string? DictionaryKey(Type key, string path, JsonSerializerOptions options)
    {
        if (key == typeof(object) || options.GetTypeInfo(key).Kind != JsonTypeInfoKind.None)
        {
            return $"{path} has keys of type {TypeNames.Display(key)}, which cannot be JSON property names. Use string, number, enum or Guid keys, or a list of pairs. {Fix}";
        }
        return null;
    }

    /// <summary>JSON writes a collection as its elements only: members a user's collection type adds would be lost.</summary>
    private static string? CollectionMembers(Type type, string path)
    {
        for (Type? t = type; t is not null && !IsFramework(t); t = t.BaseType)
        {
            FieldInfo? field = t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
                .FirstOrDefault(f => !Ignored(f));
            if (field is not null)
            {
                return $"{path} is a collection ({TypeNames.Display(type)}) with state of its own ({MemberName(field)}); JSON writes a collection as its elements only, so that state would be lost. Keep the elements in a member of a record instead. {Fix}";
            }
        }
        return null;
    }

    private static string? Object(JsonTypeInfo info, string path, JsonSerializerOptions options, HashSet<Type> seen)
    {
        Type type = info.Type;
        if (info.PolymorphismOptions is { } polymorphism)
        {
            // [JsonDerivedType]: the runtime type travels with the value, so each listed type must itself be complete.
            foreach (JsonDerivedType derived in polymorphism.DerivedTypes)
            {
                if (Walk(derived.DerivedType, $"{path} (as {TypeNames.Short(derived.DerivedType)})", options, seen) is { } reason)
                {
                    return reason;
                }
            }
            return type.IsAbstract ? null : Members(info, path, options, seen);
        }
        if (type.IsAbstract || type.IsInterface)
        {
            string kind = type.IsInterface ? "an interface" : "an abstract class";
            return $"{path} is declared as {TypeNames.Display(type)}, {kind}: the worker would not know which type to rebuild. Declare a concrete type, or list the implementations on it with [JsonDerivedType]. {Fix}";
        }
        return Members(info, path, options, seen);
    }

    private static string? Members(JsonTypeInfo info, string path, JsonSerializerOptions options, HashSet<Type> seen)
    {
        Type type = info.Type;
        var byMember = new Dictionary<MemberInfo, JsonPropertyInfo>();
        foreach (JsonPropertyInfo property in info.Properties)
        {
            if (property.AttributeProvider is MemberInfo member)
            {
                byMember[member] = property;
            }
        }

        // Every piece of state (each instance field, the compiler's backing fields included) must be
        // carried by a member that is written and set back on arrival.
        for (Type? t = type; t is not null && t != typeof(object) && t != typeof(ValueType); t = t.BaseType)
        {
            foreach (FieldInfo field in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                if (Ignored(field))
                {
                    continue;
                }
                if (Carrier(field, byMember, out PropertyInfo? owner) is { } carrier)
                {
                    if (WhyNotSetBack(carrier, owner, type, path) is { } reason)
                    {
                        return reason;
                    }
                }
                else if (owner is not null)
                {
                    return $"{path}.{owner.Name} is not public, so JSON does not write it and its value would be lost. Make it public, or mark it [JsonInclude]. {Fix}";
                }
                else
                {
                    return $"{path}: {TypeNames.Short(type)} keeps state in the non-public field '{MemberName(field)}', which JSON does not write, so it would be lost. " +
                        $"Expose it as a public property that a constructor parameter of the same name sets, or mark the field [JsonInclude]. {Fix}";
                }
            }
        }

        // Every constructor parameter must be fed from a member, or it receives its default on arrival.
        if (info.ConstructorAttributeProvider is ConstructorInfo constructor)
        {
            var bound = new HashSet<int>(info.Properties.Where(p => p.AssociatedParameter is not null).Select(p => p.AssociatedParameter!.Position));
            foreach (ParameterInfo parameter in constructor.GetParameters())
            {
                if (!bound.Contains(parameter.Position))
                {
                    return $"{path}: the constructor parameter '{parameter.Name}' of {TypeNames.Short(type)} matches no public property or field by name, so on arrival it would not receive the value. " +
                        $"Name the parameter after the property it sets (case does not matter). {Fix}";
                }
            }
        }
        else if (info.CreateObject is null && !type.IsValueType)
        {
            return $"{path} ({TypeNames.Display(type)}) has no public constructor that JSON can call, so it cannot be rebuilt in the other process. Add a public constructor whose parameters are named after the properties (a record has one). {Fix}";
        }

        foreach (JsonPropertyInfo property in info.Properties)
        {
            if (property.Get is null || property.IsExtensionData)
            {
                continue;
            }
            string member = property.AttributeProvider is MemberInfo m ? m.Name : property.Name;
            if (Walk(property.PropertyType, $"{path}.{member}", options, seen) is { } reason)
            {
                return reason;
            }
        }
        return null;
    }

    /// <summary>The JSON member that carries <paramref name="field"/>: the field itself, the property it backs, or a property of the same name (<c>_count</c> behind <c>Count</c>).</summary>
    private static JsonPropertyInfo? Carrier(FieldInfo field, Dictionary<MemberInfo, JsonPropertyInfo> byMember, out PropertyInfo? owner)
    {
        owner = null;
        if (byMember.TryGetValue(field, out JsonPropertyInfo? direct))
        {
            return direct;
        }
        string name = MemberName(field);
        bool backing = field.Name.StartsWith('<') && field.Name.EndsWith(">k__BackingField", StringComparison.Ordinal);
        if (backing)
        {
            PropertyInfo? property = field.DeclaringType!.GetProperty(name, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly);
            owner = property;
            if (property is not null)
            {
                return byMember.FirstOrDefault(pair => pair.Key.Name == property.Name).Value;
            }
        }
        string bare = name.TrimStart('_');
        if (bare.StartsWith("m_", StringComparison.Ordinal))
        {
            bare = bare[2..];
        }
        return byMember.FirstOrDefault(pair => string.Equals(pair.Key.Name, bare, StringComparison.OrdinalIgnoreCase)).Value;
    }

    private static string? WhyNotSetBack(JsonPropertyInfo carrier, PropertyInfo? owner, Type type, string path)
    {
        if (carrier.Set is not null || carrier.AssociatedParameter is not null)
        {
            return null;
        }
        // A get-only member that JSON fills in place ([JsonObjectCreationHandling(Populate)]) keeps its contents.
        if ((carrier.ObjectCreationHandling ?? JsonObjectCreationHandling.Replace) == JsonObjectCreationHandling.Populate)
        {
            return null;
        }
        MemberInfo member = carrier.AttributeProvider as MemberInfo ?? (MemberInfo?)owner ?? type;
        string where = $"{path}.{member.Name}";
        string parameter = JsonNamingPolicy.CamelCase.ConvertName(member.Name);
        return member switch
        {
            PropertyInfo { SetMethod: { } setter } when !setter.IsPublic =>
                $"{where} has a non-public setter, which JSON does not call, so its value would be lost. Make the setter public or init, mark the property [JsonInclude], or set it from a constructor parameter named '{parameter}'. {Fix}",
            FieldInfo { IsInitOnly: true } =>
                $"{where} is a readonly field that no constructor parameter named '{parameter}' sets, so its value would be lost. Add such a parameter, or make the field writable. {Fix}",
            _ =>
                $"{where} is get-only and no constructor parameter named '{parameter}' sets it, so its value would be lost. Add an init accessor, or name the constructor parameter that sets it '{parameter}'. {Fix}",
        };
    }

    private static bool Ignored(FieldInfo field)
    {
        if (field.IsDefined(typeof(JsonIgnoreAttribute)) || field.IsDefined(typeof(NonSerializedAttribute)))
        {
            return true;
        }
        // The backing field of an auto-property marked [JsonIgnore]: the user chose to leave it behind.
        if (field.Name.StartsWith('<') && field.DeclaringType!.GetProperty(MemberName(field), BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly) is { } property)
        {
            return property.IsDefined(typeof(JsonIgnoreAttribute));
        }
        return false;
    }

    /// <summary>The name a user wrote: <c>&lt;Total&gt;k__BackingField</c> is Total, a primary-constructor parameter's <c>&lt;total&gt;P</c> is total.</summary>
    private static string MemberName(FieldInfo field)
    {
        string name = field.Name;
        int close = name.IndexOf('>', StringComparison.Ordinal);
        return name.StartsWith('<') && close > 1 ? name[1..close] : name;
    }

    private static bool IsFramework(Type type) =>
        type == typeof(object) || type.Namespace is { } ns && (ns == "System" || ns.StartsWith("System.", StringComparison.Ordinal));

    /// <summary>
    /// A resolver modifier: JSON writes a value by its declared type, so an instance of a derived type
    /// in a slot declared as its base would arrive as the base, its own members gone. Such a value is
    /// refused when it is written (in the caller, at the call) unless the base lists it with [JsonDerivedType].
    /// </summary>
    public static void RefuseSubstitutes(JsonTypeInfo info)
    {
        if (info.Kind != JsonTypeInfoKind.Object || info.Type.IsSealed || info.Type.IsValueType || info.PolymorphismOptions is not null)
        {
            return;
        }
        Type declared = info.Type;
        Action<object>? previous = info.OnSerializing;
        info.OnSerializing = value =>
        {
            if (value.GetType() != declared)
            {
                throw Substituted(value.GetType(), declared);
            }
            previous?.Invoke(value);
        };
    }

    public static SerializationException Substituted(Type actual, Type declared) => new(
        $"A {TypeNames.Display(actual)} was given where {TypeNames.Display(declared)} is declared. JSON writes a value by its declared type, so it would arrive as a {TypeNames.Short(declared)} " +
        $"and lose what {TypeNames.Short(actual)} adds. Declare the parameter or member as {TypeNames.Short(actual)}, or list it on {TypeNames.Short(declared)} with [JsonDerivedType(typeof({TypeNames.Short(actual)}), \"{TypeNames.Short(actual)}\")]. {Fix}");
}
