// The camera QR scanner (AVFoundation metadata output). It looks at every QR code in view
// and stops at the first one shaped like a pairing code (PairingCodeCheck); other codes only
// change the hint. The scanned text is handed over once and never logged.

import AVFoundation
import AuthenticatorCoreKit
import SwiftUI
import UIKit

struct QRScannerView: UIViewControllerRepresentable {
    let onCode: (String) -> Void
    let onRejected: (PairingCodeProblem) -> Void
    let onUnavailable: (String) -> Void

    func makeUIViewController(context: Context) -> ScannerViewController {
        let controller = ScannerViewController()
        controller.onCode = onCode
        controller.onRejected = onRejected
        controller.onUnavailable = onUnavailable
        return controller
    }

    func updateUIViewController(_ controller: ScannerViewController, context: Context) {}
}

final class ScannerViewController: UIViewController, AVCaptureMetadataOutputObjectsDelegate {
    var onCode: ((String) -> Void)?
    var onRejected: ((PairingCodeProblem) -> Void)?
    var onUnavailable: ((String) -> Void)?

    private let session = AVCaptureSession()
    /// The session is configured and started off the main thread, as AVFoundation asks.
    private let sessionQueue = DispatchQueue(label: "pairing-scanner")
    private var previewLayer: AVCaptureVideoPreviewLayer?
    private var delivered = false
    private var lastRejected: String?

    override func viewDidLoad() {
        super.viewDidLoad()
        view.backgroundColor = .black
        switch AVCaptureDevice.authorizationStatus(for: .video) {
        case .authorized:
            configure()
        case .notDetermined:
            AVCaptureDevice.requestAccess(for: .video) { granted in
                DispatchQueue.main.async {
                    if granted {
                        self.configure()
                    } else {
                        self.cameraDenied()
                    }
                }
            }
        default:
            cameraDenied()
        }
    }

    override func viewDidLayoutSubviews() {
        super.viewDidLayoutSubviews()
        previewLayer?.frame = view.bounds
    }

    override func viewWillDisappear(_ animated: Bool) {
        super.viewWillDisappear(animated)
        let captureSession = session
        sessionQueue.async {
            if captureSession.isRunning { captureSession.stopRunning() }
        }
    }

    private func configure() {
        guard let camera = AVCaptureDevice.default(for: .video),
              let input = try? AVCaptureDeviceInput(device: camera),
              session.canAddInput(input) else {
            onUnavailable?("The camera cannot be used on this device.")
            return
        }
        let output = AVCaptureMetadataOutput()
        session.beginConfiguration()
        session.addInput(input)
        guard session.canAddOutput(output) else {
            session.commitConfiguration()
            onUnavailable?("The camera cannot read QR codes on this device.")
            return
        }
        session.addOutput(output)
        // Types can only be set once the output is attached to the session.
        output.setMetadataObjectsDelegate(self, queue: .main)
        output.metadataObjectTypes = [.qr]
        session.commitConfiguration()

        let preview = AVCaptureVideoPreviewLayer(session: session)
        preview.videoGravity = .resizeAspectFill
        preview.frame = view.bounds
        view.layer.addSublayer(preview)
        previewLayer = preview

        let captureSession = session
        sessionQueue.async { captureSession.startRunning() }
    }

    private func cameraDenied() {
        onUnavailable?("Allow camera access for this app in Settings to scan the code.")
    }

    func metadataOutput(_ output: AVCaptureMetadataOutput,
                        didOutput metadataObjects: [AVMetadataObject],
                        from connection: AVCaptureConnection) {
        guard !delivered else { return }
        for object in metadataObjects {
            guard let code = object as? AVMetadataMachineReadableCodeObject,
                  let text = code.stringValue else { continue }
            if let problem = PairingCodeCheck.check(text) {
                // The same foreign code stays in view for many frames: report it once.
                if text != lastRejected {
                    lastRejected = text
                    onRejected?(problem)
                }
                continue
            }
            delivered = true
            UINotificationFeedbackGenerator().notificationOccurred(.success)
            let captureSession = session
            sessionQueue.async { captureSession.stopRunning() }
            onCode?(text)
            return
        }
    }
}
