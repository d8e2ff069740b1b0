// The procedural face: a head ellipse with skin, hair, eyes, brows, nose
// and mouth, drawn in head coordinates (the head's half-width is 1, v grows
// downwards) and mapped to the frame through the head's pose. Expression
// cues move the features; the subject's build and the camera stay put.

import ERICore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The face's pose and expression in one frame.
struct FaceState: Sendable {
    /// Head centre and half-width, in pixels.
    var centerX: Float, centerY: Float, radius: Float
    /// Head roll, radians (positive: clockwise on screen).
    var roll: Float
    /// Eye height over eye width (0: closed).
    var eyeOpen: Float
    /// Brow lift in head units (negative: lowered).
    var browRaise: Float
    /// Extra lift of the brows' inner ends (negative: a frown).
    var browInner: Float
    /// Mouth-corner lift (negative: corners down).
    var smile: Float
    /// Mouth opening, 0…1.
    var mouthOpen: Float
    /// Rounding of the mouth into an "O", 0…1.
    var mouthRound: Float
    /// One-sided upper-lip raise, 0…1.
    var lipRaise: Float
    /// Nose wrinkle, 0…1.
    var wrinkle: Float
    /// Gaze offset in eye units.
    var gazeX: Float, gazeY: Float
}

struct FaceRenderer {
    static let framesPerSecond = 25

    let subject: SubjectProfile
    let track: ExpressionTrack
    var width: Int { subject.width }
    var height: Int { subject.height }

    // Per-clip nuisance.
    private let swayPhase: Float
    private let nodPhase: Float
    private let rollPhase: Float
    private let gazePhase: (Float, Float)
    private let exposure: RGB
    private let noiseSeed: UInt64

    init(subject: SubjectProfile, track: ExpressionTrack, generator g: inout SeededGenerator) {
        self.subject = subject
        self.track = track
        let turn = 2 * Float.pi
        swayPhase = g.uniform(0, turn)
        nodPhase = g.uniform(0, turn)
        rollPhase = g.uniform(0, turn)
        gazePhase = (g.uniform(0, turn), g.uniform(0, turn))
        exposure = RGB(g.uniform(0.94, 1.06), g.uniform(0.96, 1.04), g.uniform(0.94, 1.06))
        noiseSeed = g.next()
    }

    /// The cue table's face column, applied at frame `index`.
    func state(at index: Int) -> FaceState {
        let t = Float(index) / Float(Self.framesPerSecond)
        let adoration = track.activation(.adoration, t)
        let amusement = track.activation(.amusement, t)
        let disgust = track.activation(.disgust, t)
        let pain = track.activation(.empathicPain, t)
        let fear = track.activation(.fear, t)
        let surprise = track.activation(.surprise, t)
        // Anxiety has no face cue (audio-only by design).
        let laugh = track.laughter(t) * track.amplitude[Emotion.amusement.rawValue]
        let blink = track.blinkClosure(t)

        let side = Float(min(width, height))
        let turn = 2 * Float.pi
        let sway = subject.sway * side * (sinf(turn * subject.swayRate * t + swayPhase)
                                          + 0.3 * sinf(turn * 2.7 * subject.swayRate * t + nodPhase))
        let nod = subject.nod * side * sinf(turn * subject.nodRate * t + nodPhase)
        let retreat = min(fear, 1)
        let scale = 1 - 0.08 * retreat

        let eyeOpen = subject.eyeOpenness
            * (1 + 0.75 * surprise + 0.5 * fear - 0.35 * disgust - 0.3 * amusement - 0.15 * adoration)
            * (1 - blink)
        return FaceState(
            centerX: Float(width) * 0.5 + subject.framingX * side + sway,
            centerY: Float(height) * 0.5 + subject.framingY * side + nod - 0.04 * side * retreat,
            radius: subject.headSize * side * scale,
            roll: subject.roll * sinf(turn * 0.5 * subject.swayRate * t + rollPhase) + 0.22 * min(adoration, 1) * subject.tiltSide,
            eyeOpen: min(max(eyeOpen, 0), 0.95),
            browRaise: subject.browHeight + 0.2 * surprise + 0.06 * fear - 0.06 * disgust,
            browInner: 0.12 * fear + 0.14 * pain - 0.12 * disgust,
            smile: min(max(subject.restingSmile + 0.9 * amusement + 0.5 * adoration - 0.7 * pain - 0.25 * disgust - 0.15 * fear, -1), 1.3),
            mouthOpen: min(0.55 * surprise + 0.15 * fear + 0.6 * laugh, 1),
            mouthRound: min(0.8 * surprise, 1),
            lipRaise: min(0.9 * disgust, 1),
            wrinkle: min(disgust, 1),
            gazeX: 0.6 * sinf(turn * 0.11 * t + gazePhase.0),
            gazeY: 0.4 * sinf(turn * 0.07 * t + gazePhase.1))
    }

    /// Draws frame `index` as packed RGB24 (`3 · width` bytes a row, top row first).
    func render(frame index: Int, into pixels: UnsafeMutableBufferPointer<UInt8>) {
        precondition(pixels.count >= width * height * 3)
        let state = state(at: index)
        let geometry = FaceGeometry(subject: subject, state: state)
        let cosRoll = cosf(state.roll), sinRoll = sinf(state.roll)
        let inverseRadius = 1 / state.radius
        let aspect = subject.faceAspect
        let lightSide = subject.lightSide, lightStrength = subject.lightStrength
        let noiseScale = subject.sensorNoise * 3.4641   // uniform noise with this standard deviation
        var noise = NoiseSource(seed: noiseSeed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        let background = subject.background, shirt = subject.shirt, hair = subject.hair, skin = subject.skin
        let w = Float(width), h = Float(height)

        // One pass over the pixels (the reason for the unsafe buffer: this is
        // the corpus generator's hot loop, ~10⁴ pixels × 25 frames a second).
        var offset = 0
        for y in 0..<height {
            let py = Float(y) + 0.5 - state.centerY
            let rowLight = 1 - lightStrength * 0.4 * ((Float(y) + 0.5) / h - 0.5)
            for x in 0..<width {
                let px = Float(x) + 0.5 - state.centerX
                let u = (cosRoll * px + sinRoll * py) * inverseRadius
                let v = (-sinRoll * px + cosRoll * py) * inverseRadius
                let vn = v / aspect
                let r2 = u * u + vn * vn
                let hairline = -0.62 * aspect + 0.22 * u * u
                var colour: RGB
                if r2 <= 1 && v > hairline {
                    colour = geometry.face(u: u, v: v, r2: r2)
                } else if v < 0.05 * aspect && u * u + ((v + 0.06) / (aspect * 1.07)) * ((v + 0.06) / (aspect * 1.07)) <= 1.17 {
                    colour = hair * (0.8 + 0.2 * lightSide * u * 0.5 + 0.1 * max(0, -vn))
                } else if abs(px * inverseRadius) < 0.42 && py * inverseRadius > 0.5 * aspect && py * inverseRadius < 1.5 * aspect {
                    // Neck and shoulders stay upright when the head rolls.
                    colour = skin * (0.72 + 0.08 * lightSide * px * inverseRadius)
                } else if py * inverseRadius > 1.3 * aspect && abs(px * inverseRadius) < 0.55 + (py * inverseRadius - 1.3 * aspect) * 1.6 {
                    colour = shirt * (0.85 + 0.1 * lightSide * px * inverseRadius)
                } else {
                    colour = background
                }
                let light = rowLight + lightStrength * lightSide * 1.2 * ((Float(x) + 0.5) / w - 0.5)
                let n = noise.next3()
                pixels[offset] = quantize(colour.r * exposure.r * light * 255 + n.0 * noiseScale)
                pixels[offset + 1] = quantize(colour.g * exposure.g * light * 255 + n.1 * noiseScale)
                pixels[offset + 2] = quantize(colour.b * exposure.b * light * 255 + n.2 * noiseScale)
                offset += 3
            }
        }
    }

    @inline(__always) private func quantize(_ value: Float) -> UInt8 {
        if !(value > 0) { return 0 }
        if value >= 255 { return 255 }
        return UInt8(value + 0.5)
    }
}

/// The features of one frame in head units, ready for per-pixel lookups.
private struct FaceGeometry {
    let skin: RGB, lips: RGB, iris: RGB, brow: RGB
    let lightSide: Float
    let aspect: Float
    let eyeY: Float, eyeSpacing: Float, eyeHalfWidth: Float, eyeHalfHeight: Float
    let browInnerU: Float, browOuterU: Float, browBaseV: Float
    let browInner: Float, browArch: Float, browThickness: Float
    let noseV: Float
    let mouthY: Float, mouthHalfWidth: Float, smile: Float, mouthOpen: Float, mouthRound: Float
    let lipRaise: Float, lipRaiseSide: Float, wrinkle: Float
    let gazeX: Float, gazeY: Float

    static let sclera = RGB(0.93, 0.93, 0.90)
    static let pupil = RGB(0.03, 0.03, 0.04)
    static let lash = RGB(0.12, 0.08, 0.07)
    static let mouthInside = RGB(0.22, 0.05, 0.06)

    init(subject: SubjectProfile, state: FaceState) {
        skin = subject.skin
        lips = subject.lips
        iris = subject.iris
        brow = subject.hair * 0.55
        lightSide = subject.lightSide
        aspect = subject.faceAspect
        eyeY = -0.10 * aspect
        eyeSpacing = subject.eyeSpacing
        eyeHalfWidth = subject.eyeSize
        eyeHalfHeight = subject.eyeSize * state.eyeOpen
        browInnerU = subject.eyeSpacing - 0.6 * subject.eyeSize
        browOuterU = subject.eyeSpacing + 1.25 * subject.eyeSize
        browBaseV = eyeY - 1.15 * subject.eyeSize - state.browRaise
        browInner = state.browInner
        browArch = subject.browArch
        browThickness = subject.browThickness
        noseV = 0.26 * aspect
        mouthY = 0.52 * aspect
        mouthHalfWidth = subject.mouthWidth * (1 - 0.35 * state.mouthRound) * (1 + 0.08 * max(0, state.smile))
        smile = state.smile
        mouthOpen = state.mouthOpen
        mouthRound = state.mouthRound
        lipRaise = state.lipRaise
        lipRaiseSide = subject.lipRaiseSide
        wrinkle = state.wrinkle
        gazeX = state.gazeX
        gazeY = state.gazeY
    }

    /// The colour of the face at (u, v), inside the head ellipse (r2 = its normalised radius²).
    @inline(__always) func face(u: Float, v: Float, r2: Float) -> RGB {
        let shade = 0.86 + 0.16 * lightSide * u - 0.28 * r2 * r2
        var colour = skin * shade
        let au = abs(u)

        // Nose wrinkle (disgust): horizontal creases over the bridge.
        if wrinkle > 0.02 && au > 0.03 && au < 0.13 && v > 0.0 && v < 0.12 * aspect {
            let crease = v * 40 - Float(Int(v * 40 + 100) - 100)
            if crease < 0.35 { colour = colour * (1 - 0.18 * wrinkle) }
        }

        // Eyes: sclera, iris and pupil inside an ellipse whose height is the openness; a lash line above.
        let side: Float = u < 0 ? -1 : 1
        let ex = u - side * eyeSpacing
        let ey = v - eyeY
        if abs(ex) < eyeHalfWidth * 1.15 && abs(ey) < eyeHalfWidth {
            let xn = ex / eyeHalfWidth
            if eyeHalfHeight > 0.012 {
                let yn = ey / eyeHalfHeight
                let q = xn * xn + yn * yn
                if q <= 1 {
                    let ix = ex - gazeX * eyeHalfWidth * 0.35, iy = ey - gazeY * eyeHalfWidth * 0.2
                    let irisRadius = eyeHalfWidth * 0.5
                    let d2 = ix * ix + iy * iy
                    if d2 < irisRadius * irisRadius * 0.2 { return Self.pupil }
                    if d2 < irisRadius * irisRadius { return iris * (0.9 + 0.1 * shade) }
                    return Self.sclera * (0.92 + 0.08 * shade)
                }
                // The upper lid's lash line.
                if ey < 0 && q <= 1.45 && abs(xn) < 1.05 { return Self.lash }
            } else if abs(ey) < 0.025 && abs(xn) < 1 {
                return Self.lash   // closed: only the lashes
            }
        }

        // Brows: a tapered band; the inner end moves with browInner, the whole with browRaise.
        if au > browInnerU && au < browOuterU && v < eyeY + 0.05 && v > browBaseV - 0.45 {
            let w = (au - browInnerU) / (browOuterU - browInnerU)
            let inner = 1 - w
            let centre = browBaseV - browInner * inner * inner - browArch * 4 * w * inner
            let half = 0.5 * browThickness * (1 - 0.45 * w)
            if abs(v - centre) < half { return brow * (0.9 + 0.1 * shade) }
        }

        // Nose: nostrils and a shadow on the side away from the light.
        if abs(v - noseV) < 0.05 {
            let nx = au - 0.08, ny = v - noseV
            if nx * nx + ny * ny < 0.035 * 0.035 { return colour * 0.5 }
        }
        if v > -0.02 * aspect && v < noseV && u * lightSide < 0 && au < 0.07 { colour = colour * 0.9 }

        // Mouth: lips around an opening whose centre line curves with the smile.
        let mv = v - mouthY
        if au < mouthHalfWidth && mv > -0.45 && mv < 0.4 {
            let s = u / mouthHalfWidth
            let s2 = s * s
            let curve = -smile * 0.13 * s2
            let shape = (1 - s2).squareRoot()
            let roundShape = shape + mouthRound * (shape.squareRoot() - shape)
            let halfOpen = mouthOpen * 0.2 * roundShape + 0.007
            let raise = lipRaise * 0.14 * max(0, s * lipRaiseSide)
            let top = curve - halfOpen - raise
            let bottom = curve + halfOpen
            if mv > top && mv < bottom { return Self.mouthInside }
            let fullness = 0.4 + 0.6 * shape
            if mv >= top - 0.045 * fullness && mv <= top { return lips * shade }
            if mv >= bottom && mv <= bottom + 0.06 * fullness { return lips * (shade * 1.06) }
        }
        return colour
    }
}

/// xorshift64* for sensor noise: cheap, and seeded per frame so that frames
/// can be rendered in any order.
private struct NoiseSource {
    var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x2545_F491_4F6C_DD1D : seed }

    /// Three independent uniforms in [−0.5, 0.5).
    @inline(__always) mutating func next3() -> (Float, Float, Float) {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        let bits = state &* 0x2545_F491_4F6C_DD1D
        let scale: Float = 1 / Float(1 << 21)
        return (Float(bits & 0x1F_FFFF) * scale - 0.5,
                Float((bits >> 21) & 0x1F_FFFF) * scale - 0.5,
                Float((bits >> 42) & 0x1F_FFFF) * scale - 0.5)
    }
}
